"""Figures of the course: forecasts against realised volatility, training curves, R² by model.

Each function returns a ``matplotlib.figure.Figure`` and never calls ``plt.show``: a notebook displays
the figure it is given, a script saves it with ``fig.savefig(path)``. Every figure is at most ``MAX_WIDTH``
inches wide, so that it fits the course site's text column (800 px at fig-dpi 110).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

MAX_WIDTH = 7.0
"""Widest figure, in inches: the site's text column holds 800 px, 7 in at its fig-dpi of 110."""


def plot_predictions(dates, y_true, predictions: dict, *, title: str | None = None, unit: str = "%") -> Figure:
    """Realised absolute returns over the test period, with each model's forecast on top (values as given)."""
    y_true = np.asarray(y_true).reshape(-1)
    dates = pd.DatetimeIndex(dates) if dates is not None else np.arange(len(y_true))
    if len(dates) != len(y_true):
        raise ValueError(f"{len(dates)} dates for {len(y_true)} values")
    fig = Figure(figsize=(MAX_WIDTH, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(dates, y_true, color="0.75", lw=0.8, label="realised |return|")
    for name, pred in predictions.items():
        pred = np.asarray(pred).reshape(-1)
        if len(pred) != len(y_true):
            raise ValueError(f"{name}: {len(pred)} predictions for {len(y_true)} targets")
        ax.plot(dates, pred, lw=1.2, label=name)
    ax.set_ylabel(f"absolute daily return ({unit})" if unit else "absolute daily return")
    ax.set_title(title or "Next-day absolute S&P 500 return: forecast vs realised (test period)", fontsize=10)
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
    fig = Figure(figsize=(MAX_WIDTH if cols > 1 else 4.0, 2.4 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (name, h) in zip(axes, histories.items(), strict=False):
        epochs = np.arange(1, len(h["loss"]) + 1)
        ax.plot(epochs, h["loss"], label="train")
        if "val_loss" in h:
            ax.plot(epochs, h["val_loss"], label="validation")
        if log:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("MSE", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig


def plot_r2(table: pd.DataFrame, *, reference: dict | None = None) -> Figure:
    """Horizontal bars of R² on the test split by model; ``reference`` values drawn as ticks."""
    if not {"model", "r2"} <= set(table.columns):
        raise ValueError(f"the table needs columns 'model' and 'r2', has {list(table.columns)}")
    fig = Figure(figsize=(MAX_WIDTH, 0.45 * len(table) + 1.2), layout="constrained")
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


def plot_seed_scores(
    scores: pd.DataFrame,
    *,
    metric: str = "r2",
    reference: dict | None = None,
    baselines=(),
    label: str | None = None,
) -> Figure:
    """Mean of ``metric`` over seeds by model (bars), ± one standard deviation (error bars), each seed (dots).

    ``scores`` has one row per (model, seed) with columns ``model`` and ``metric`` (``dl4f.tp_rnn.run_seeds``);
    ``reference`` values (the TP's single run) are drawn as black ticks; models named in ``baselines`` (the
    econometric benchmarks) are drawn in grey, the networks in blue.
    """
    if not {"model", metric} <= set(scores.columns):
        raise ValueError(f"the scores need columns 'model' and {metric!r}, have {list(scores.columns)}")
    names = list(pd.unique(scores["model"]))
    groups = [scores.loc[scores["model"] == n, metric].to_numpy(dtype=float) for n in names]
    means = np.array([g.mean() for g in groups])
    stds = np.array([g.std(ddof=1) if len(g) > 1 else 0.0 for g in groups])
    stds[stds < 1e-9 * np.maximum(np.abs(means), 1.0)] = 0.0  # a deterministic model (OLS): rounding noise only
    fig = Figure(figsize=(MAX_WIDTH, min(0.36 * len(names) + 1.1, 4.5)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(names))
    colors = ["0.6" if n in baselines else "tab:blue" for n in names]
    ax.barh(y, means, color=colors)
    for name, m in zip(names, means, strict=True):  # each baseline's score across the chart: who beats it
        if name in baselines:
            ax.axvline(m, color="0.45", lw=0.8, ls=":", zorder=0)
    spread = stds > 0
    ax.errorbar(means[spread], y[spread], xerr=stds[spread], fmt="none", ecolor="black", capsize=4, lw=1.2)
    for yi, g in zip(y, groups, strict=True):
        if len(g) > 1:
            ax.scatter(g, np.full(len(g), yi), s=10, color="black", alpha=0.5, zorder=3)
    ref = np.array([reference.get(n, np.nan) for n in names]) if reference else np.full(len(names), np.nan)
    if np.isfinite(ref).any():
        ax.scatter(ref, y, marker="|", s=300, color="tab:red", zorder=4)
    right = np.nanmax(np.concatenate([means + stds, ref])) if np.isfinite(ref).any() else (means + stds).max()
    for yi, m, s in zip(y, means, stds, strict=True):
        ax.text(right, yi, f"  {m:.3f}" + (f" ± {s:.3f}" if s > 0 else ""), va="center", fontsize=8)
    lo = min(0.0, float(np.nanmin(np.concatenate([means - stds, ref]))))
    ax.set_xlim(lo * 1.1, max(right, 1e-3) * 1.35)  # room for the labels
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(label or {"r2": "R² on the test split"}.get(metric, metric))
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color="tab:blue", label="TP model: mean ± std over seeds (dots: seeds)")]
    if any(n in baselines for n in names):
        handles.append(Patch(color="0.6", label="baseline (deterministic)"))
    if np.isfinite(ref).any():
        handles.append(Line2D([], [], color="tab:red", marker="|", ls="none", markersize=12, label="TP, single run"))
    fig.legend(handles=handles, fontsize=8, loc="outside lower center", ncols=len(handles), frameon=False)
    return fig
