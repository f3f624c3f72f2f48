"""Figures of the course: forecasts against realised volatility, training curves, R² by model.

Each function returns a ``matplotlib.figure.Figure`` and never calls ``plt.show``: a notebook displays
the figure it is given, a script saves it with ``fig.savefig(path)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_predictions(dates, y_true, predictions: dict, *, title: str | None = None, unit: str = "%") -> Figure:
    """Realised absolute returns over the test period, with each model's forecast on top (values as given)."""
    y_true = np.asarray(y_true).reshape(-1)
    dates = pd.DatetimeIndex(dates) if dates is not None else np.arange(len(y_true))
    if len(dates) != len(y_true):
        raise ValueError(f"{len(dates)} dates for {len(y_true)} values")
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot(dates, y_true, color="0.75", lw=0.8, label="realised |return|")
    for name, pred in predictions.items():
        pred = np.asarray(pred).reshape(-1)
        if len(pred) != len(y_true):
            raise ValueError(f"{name}: {len(pred)} predictions for {len(y_true)} targets")
        ax.plot(dates, pred, lw=1.2, label=name)
    ax.set_ylabel(f"absolute daily return ({unit})" if unit else "absolute daily return")
    ax.set_title(title or "Next-day absolute return of the S&P 500: forecast vs realised (test period)")
    ax.legend(loc="upper right", fontsize=8, ncols=2)
    return fig


def plot_history(histories: dict, *, log: bool = True) -> Figure:
    """Training and validation loss by epoch, one panel per model (``{name: history dict}``)."""
    histories = {name: h for name, h in histories.items() if h}
    if not histories:
        raise ValueError("no training history to plot (scikit-learn models have none)")
    n = len(histories)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig = Figure(figsize=(4 * cols, 3 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (name, h) in zip(axes, histories.items(), strict=False):
        epochs = np.arange(1, len(h["loss"]) + 1)
        ax.plot(epochs, h["loss"], label="train")
        if "val_loss" in h:
            ax.plot(epochs, h["val_loss"], label="validation")
        if log:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("MSE")
        ax.legend(fontsize=8)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig


def plot_r2(table: pd.DataFrame, *, reference: dict | None = None) -> Figure:
    """Horizontal bars of R² on the test split by model; ``reference`` values drawn as ticks."""
    if not {"model", "r2"} <= set(table.columns):
        raise ValueError(f"the table needs columns 'model' and 'r2', has {list(table.columns)}")
    fig = Figure(figsize=(7, 0.45 * len(table) + 1.2), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(table))
    ax.barh(y, table["r2"], color="tab:blue", label="this run")
    ref = [reference.get(m, np.nan) for m in table["model"]] if reference else [np.nan] * len(table)
    if reference:
        ax.scatter(ref, y, marker="|", s=300, color="black", label="TP reference", zorder=3)
    for yi, value, r in zip(y, table["r2"], ref, strict=True):  # the label right of the bar and of the tick
        ax.text(max(value, r) if np.isfinite(r) else value, yi, f"  {value:.3f}", va="center", fontsize=8)
    values = list(table["r2"]) + [v for v in ref if np.isfinite(v)]
    ax.set_xlim(min(0.0, min(values)) * 1.15, max(0.0, max(values)) * 1.2 + 1e-3)  # room for the labels
    ax.set_yticks(y, table["model"])
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("R² on the test split")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=2, frameon=False)
    return fig
