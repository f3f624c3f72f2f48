"""The RNN practical: next-day absolute S&P 500 return from the 200 previous ones, seven models compared.

``load_data`` follows the TP's data path (prices -> absolute returns -> windows -> chronological split);
``train`` fits one model of ``dl4f.models.BUILDERS`` the fast way (see ``RECIPE``); ``run_comparison``
trains them all and scores them on the test split; ``save_outputs`` writes the table and figures.
``run_seeds`` repeats the comparison over several seeds and scores the networks with R², MSE, MAE and QLIKE
beside the econometric baselines HAR and GARCH(1,1) (``dl4f.baselines``); ``save_seed_outputs`` writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from dl4f import baselines, evaluation, models, plots, training
from dl4f import data as data_mod
from dl4f.windows import chronological_split, make_windows

TICKER = "^GSPC"
START = "2000-01-01"
END = "2024-01-01"  # exclusive, as in yfinance: the last day is 2023-12-29
WINDOW = 200
HORIZON = 1
TEST_SIZE = 0.2

# R² on the test split of the TP as written (Keras defaults, batch 32, the TP's callbacks).
REFERENCE_R2 = {
    "Linear regression": 0.2458,
    "MLP": 0.1371,
    "LSTM": 0.3068,
    "GRU": 0.2700,
    "LSTM (2 layers)": 0.3084,
    "GRU (2 layers)": 0.2510,
}

# How dl4f trains the TP's networks (benchmarks/tp_rnn.py measures it against the TP as written).
# The TP's callbacks never see an improvement larger than min_delta=1e-5 on a loss of ~3e-5 (raw units):
# every run stops at epoch 17 and restores epoch 7, so 10 of its 17 epochs are wasted. dl4f keeps the
# TP's optimizer and learning rate (Adam, 1e-3), feeds returns in percent, and trains 3 epochs at batch 64,
# keeping the epoch with the lowest loss on the same chronological validation split. The best epoch is
# the 2nd or 3rd on every model and seed measured.
RECIPE = {"epochs": 3, "batch_size": training.DEFAULT_BATCH_SIZE, "learning_rate": 1e-3, "validation_split": 0.2}


@dataclass
class TPData:
    """The TP's arrays: ``X_*`` (samples, window) and ``y_*`` (samples,), absolute returns in percent
    (or raw units with ``load_data(percent=False)``); ``returns`` is the raw series."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    test_dates: pd.DatetimeIndex
    returns: pd.Series


@dataclass
class Comparison:
    table: pd.DataFrame
    models: dict = field(default_factory=dict)
    histories: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def load_data(
    ticker: str = TICKER,
    start: str = START,
    end: str = END,
    window: int = WINDOW,
    horizon: int = HORIZON,
    test_size: float = TEST_SIZE,
    percent: bool = True,
) -> TPData:
    """Prices (from the cache when it has them) -> absolute returns -> windows -> chronological split.

    ``percent=True`` (the default) expresses the returns in percent (x100): 1.2 means a 1.2 % move. The
    models are the same up to units and R² does not depend on the unit, but a network fed values of
    order 1 rather than 0.01 gets gradients of a useful size: Adam converges in a few epochs.
    """
    returns = data_mod.abs_returns(data_mod.load_prices(ticker, start, end))
    X, y = make_windows(returns * (100.0 if percent else 1.0), window, horizon)
    # the target of window i is the return on day i + window + horizon - 1 of the returns series
    target_dates = returns.index[window + horizon - 1 :]
    X_train, X_test, y_train, y_test, _, dates_test = chronological_split(
        X, y, np.asarray(target_dates), test_size=test_size
    )
    return TPData(X_train, X_test, y_train, y_test, pd.DatetimeIndex(dates_test), returns)


def fit_kwargs(epochs: int | None = None) -> dict:
    """Keyword arguments of ``dl4f.training.fit`` for the TP's networks: ``fit(model, X, y, **fit_kwargs())``.

    ``RECIPE`` plus fresh callbacks: keep the epoch with the lowest validation loss (what the TP's
    ``EarlyStopping(restore_best_weights=True)`` does) and stop on NaN. The number of epochs is, in order:
    the ``epochs`` argument, the ``DL4F_TP_EPOCHS`` environment variable (quick CI runs), ``RECIPE``.
    """
    epochs = training.recipe_epochs(RECIPE["epochs"], epochs)
    kwargs = {k: RECIPE[k] for k in ("epochs", "batch_size", "learning_rate", "validation_split")}
    kwargs["epochs"] = epochs
    kwargs["callbacks"] = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=kwargs["epochs"], restore_best_weights=True),
        keras.callbacks.TerminateOnNaN(),
    ]
    return kwargs


def train(name: str, data: TPData, *, seed: int = 0, epochs: int | None = None):
    """Train model ``name`` (a key of ``models.BUILDERS``) on the training split; returns (model, history).

    Score it with ``dl4f.evaluation.r2(data.y_test, dl4f.training.predict(model, data.X_test))``.
    """
    if name not in models.BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose among {list(models.BUILDERS)}")
    return training.fit(models.BUILDERS[name], data.X_train, data.y_train, seed=seed, **fit_kwargs(epochs))


def run_comparison(
    data: TPData,
    names=None,
    *,
    seed: int = 0,
    epochs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Train and score each model; ``table`` has model, r2, mse, seconds, reference_r2, difference."""
    import time

    names = list(models.BUILDERS) if names is None else list(names)
    unknown = [n for n in names if n not in models.BUILDERS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose among {list(models.BUILDERS)}")
    result = Comparison(table=pd.DataFrame())
    for k, name in enumerate(names, 1):
        if progress:
            progress(f"[{k}/{len(names)}] training {name} ...")
        t0 = time.perf_counter()
        model, history = train(name, data, seed=seed, epochs=epochs)
        result.seconds[name] = time.perf_counter() - t0
        result.models[name], result.histories[name] = model, history
        result.predictions[name] = training.predict(model, data.X_test)
        if progress:
            r2 = evaluation.r2(data.y_test, result.predictions[name])
            progress(f"      R² = {r2:.4f}  ({result.seconds[name]:.0f} s, {len(history.get('loss', [])) or '-'} epochs)")
    scores = evaluation.score_models(result.models, data.X_test, data.y_test)
    scores["seconds"] = scores["model"].map(result.seconds)
    result.table = evaluation.r2_table(scores, REFERENCE_R2)
    return result


def save_outputs(result: Comparison, data: TPData, out: Path) -> list[Path]:
    """Write ``r2.csv``, ``r2.png``, ``predictions.png`` and ``training_curves.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "r2.csv"]
    result.table.to_csv(paths[0], index=False)
    figures = {
        "r2.png": plots.plot_r2(result.table, reference=REFERENCE_R2),
        "predictions.png": plots.plot_predictions(data.test_dates, data.y_test, result.predictions),
    }
    if any(result.histories.values()):
        figures["training_curves.png"] = plots.plot_history(result.histories)
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=120)
        paths.append(out / name)
    return paths


# --------------------------------------------------------------------------- baselines, metrics, seeds

BASELINES = baselines.BASELINE_NAMES
"""The econometric baselines scored beside the networks: HAR and GARCH(1,1) (``dl4f.baselines``)."""


def baseline_predictions(data: TPData) -> dict[str, np.ndarray]:
    """HAR and GARCH(1,1) forecasts of ``data.y_test``, fitted on the training period only (``dl4f.baselines``)."""
    return baselines.tp_baselines(data)


@dataclass
class SeedRuns:
    """``scores``: one row per (model, seed) with ``r2, mse, mae, qlike, seconds`` (the deterministic baselines
    once, seed NaN); ``summary``: mean and std over seeds per model, with the TP's ``reference_r2``;
    ``first``: the full ``Comparison`` of the first seed (for the figures)."""

    scores: pd.DataFrame
    summary: pd.DataFrame
    first: Comparison


def _scores_of(predictions: dict, data: TPData, seed, seconds: dict) -> pd.DataFrame:
    table = evaluation.score_forecasts(data.y_test, predictions)
    table.insert(1, "seed", seed)
    table["seconds"] = table["model"].map(seconds)
    return table


def run_seeds(
    data: TPData,
    names=None,
    *,
    seeds=(0,),
    epochs: int | None = None,
    with_baselines: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SeedRuns:
    """Train and score each model once per seed (``run_comparison``), and the baselines once.

    The metrics are those of ``dl4f.evaluation.METRICS`` (R², MSE, MAE, QLIKE) on the test split, in the
    units of ``data`` (percent by default). The linear regression is closed-form (the same for every seed);
    the baselines are deterministic and scored once.
    """
    import time

    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"give one or more distinct seeds, got {seeds}")
    frames, first = [], None
    if with_baselines:
        t0 = time.perf_counter()
        preds = baseline_predictions(data)
        seconds = dict.fromkeys(preds, time.perf_counter() - t0)
        frames.append(_scores_of(preds, data, np.nan, seconds))
        if progress:
            progress("baselines: " + ", ".join(f"{n} R² = {evaluation.r2(data.y_test, p):.4f}" for n, p in preds.items()))
    for k, seed in enumerate(seeds, 1):
        if progress:
            progress(f"seed {seed} ({k}/{len(seeds)})")
        result = run_comparison(data, names, seed=seed, epochs=epochs, progress=progress)
        first = first or result
        frames.append(_scores_of(result.predictions, data, seed, result.seconds))
    scores = pd.concat(frames, ignore_index=True)
    summary = evaluation.summarize_seeds(scores)
    summary["reference_r2"] = summary["model"].map(REFERENCE_R2)
    return SeedRuns(scores=scores, summary=summary, first=first)


def save_seed_outputs(runs: SeedRuns, out: Path) -> list[Path]:
    """Write ``metrics_by_seed.csv`` (one row per model and seed), ``metrics.csv`` (mean, std) and ``seeds.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "metrics_by_seed.csv", out / "metrics.csv", out / "seeds.png"]
    runs.scores.to_csv(paths[0], index=False)
    runs.summary.to_csv(paths[1], index=False)
    plots.plot_seed_scores(runs.scores, reference=REFERENCE_R2, baselines=BASELINES).savefig(paths[2], dpi=120)
    return paths
