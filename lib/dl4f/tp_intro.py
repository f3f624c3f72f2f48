"""The introductory TP: next-day absolute S&P 500 return from the 20 previous ones, with a small MLP built five ways.

What the notebook imports (data, recipe, constants); it holds no check and no threshold:

- ``load_data()``: prices -> absolute returns in percent -> windows of ``WINDOW`` days -> chronological split
  (as ``dl4f.tp_rnn.load_data``, with a short window so that every model trains in seconds), with the date of
  each target;
- ``load_vix()``: the VIX closing level (``^VIX``, from the cache), the second input of Question 3. The VIX of
  day ``d`` is known at the close of ``d``: a forecast of day ``t`` may use the VIX of the days before ``t`` only;
- ``fit_kwargs()``: how the networks are trained (``RECIPE``; ``DL4F_TP_EPOCHS`` shortens it for quick runs);
- ``calibration_results()``: the course's runs of the two networks over several seeds
  (``benchmarks/calibrate_tp_intro.py``), read from the course repository when it is at hand (the corrected page).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dl4f import data as data_mod
from dl4f import training
from dl4f.windows import chronological_split, make_windows

TICKER = "^GSPC"
VIX_TICKER = "^VIX"
START = "2000-01-01"
END = "2024-01-01"  # exclusive: the last day is 2023-12-29
WINDOW = 20  # four weeks of trading days
HIDDEN = 32  # units of the hidden layer
TEST_SIZE = 0.2
VIX_SCALE = 1 / math.sqrt(252)  # VIX (annualised %) * VIX_SCALE = the implied daily volatility, in % like the returns
RECIPE = {"epochs": 5, "batch_size": 64, "learning_rate": 1e-3, "validation_split": 0.2}
# Written by benchmarks/calibrate_tp_intro.py; part of the course repository, not of the students' package.
CALIBRATION_CSV = Path(__file__).resolve().parents[2] / "chapters" / "intro" / "results" / "tp_intro_calibration.csv"


@dataclass
class TPData:
    """``X_*`` (samples, WINDOW) and ``y_*`` (samples,): absolute returns in percent; ``dates_*``: each target's day."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    dates_train: pd.DatetimeIndex
    dates_test: pd.DatetimeIndex
    returns: pd.Series


def load_data(window: int = WINDOW, start: str = START, end: str = END, test_size: float = TEST_SIZE) -> TPData:
    """Windows of ``window`` absolute daily returns (percent) and the next day's, split in time order."""
    returns = data_mod.abs_returns(data_mod.load_prices(TICKER, start, end)) * 100.0
    X, y = make_windows(returns, window, 1)
    target_dates = np.asarray(returns.index[window:])
    X_train, X_test, y_train, y_test, d_train, d_test = chronological_split(X, y, target_dates, test_size=test_size)
    return TPData(X_train, X_test, y_train, y_test, pd.DatetimeIndex(d_train), pd.DatetimeIndex(d_test), returns)


def load_vix(start: str = START, end: str = END) -> pd.Series:
    """The VIX closing level on ``[start, end)`` (annualised implied volatility, in %), indexed by date."""
    close = data_mod.load_prices(VIX_TICKER, start, end)["Close"].astype("float64")
    close.name = "vix"
    return close


def fit_kwargs(epochs: int | None = None) -> dict:
    """Keyword arguments of ``model.fit`` (after ``model.compile(keras.optimizers.Adam(learning_rate()), "mse")``).

    The number of epochs is, in order: the ``epochs`` argument, the ``DL4F_TP_EPOCHS`` environment variable (the
    instructor's quick runs), ``RECIPE``. The epoch with the lowest validation loss is kept.
    """
    return training.recipe_fit_kwargs(RECIPE, epochs)


def learning_rate() -> float:
    """The recipe's learning rate of Adam."""
    return RECIPE["learning_rate"]


def calibration_results(path: Path | str | None = None) -> pd.DataFrame | None:
    """The test R² of the TP's models over several training seeds, or None where the file is not at hand.

    One row per (model, epochs, seed) with columns ``model`` ("Linear regression", "MLP", "MLP + VIX"),
    ``epochs`` (0 for the linear regression), ``seed`` (-1 for it) and ``r2``, as written by
    ``benchmarks/calibrate_tp_intro.py`` into ``CALIBRATION_CSV`` (default ``path``). The file ships with the
    course repository, not with the students' package: there this returns None.
    """
    path = CALIBRATION_CSV if path is None else Path(path)
    if not path.is_file():
        return None
    results = pd.read_csv(path)
    missing = {"model", "epochs", "seed", "r2"} - set(results.columns)
    if missing:
        raise ValueError(f"{path} lacks the columns {sorted(missing)}: re-run benchmarks/calibrate_tp_intro.py")
    return results
