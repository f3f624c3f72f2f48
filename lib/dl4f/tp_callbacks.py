"""The callbacks TP: the same task as the RNN TP (next-day absolute S&P 500 return, in percent), small and fast.

A window of ``WINDOW`` days, a small MLP (``build_model``), Adam at ``LEARNING_RATE``, ``EPOCHS`` epochs at
batch ``BATCH_SIZE``: each training takes a few seconds, so the notebook can compare trainings with and without
callbacks. The split is chronological: train, then validation (the callbacks watch it), then test (never seen
during training). The notebook's callbacks use the constants below (``PATIENCE``, ``LR_FACTOR``...).

This module only loads data, builds and trains: what the notebook imports. It holds no check and no threshold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from dl4f import data as data_mod
from dl4f import evaluation
from dl4f.windows import chronological_split, make_windows

TICKER = "^GSPC"
START = "2000-01-01"
END = "2024-01-01"  # exclusive: the last day is 2023-12-29
WINDOW = 20  # about one trading month of absolute returns
TEST_SIZE = 0.2  # the last 20 % of the windows: the test split
VALIDATION_SIZE = 0.2  # the last 20 % of the rest: the validation split the callbacks watch
UNITS = 16
EPOCHS = 30
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
PATIENCE = 5  # early stopping: epochs without improvement before stopping
LR_FACTOR = 0.5  # ReduceLROnPlateau: the learning rate is multiplied by this factor...
LR_PATIENCE = 2  # ... after this many epochs without improvement
MIN_LR = 1e-5
KINDS = ("none", "early_stopping", "reduce_lr", "both")


@dataclass
class CallbackData:
    """Windows ``X_*`` (samples, WINDOW) and targets ``y_*`` (samples,), absolute returns in percent."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    test_dates: pd.DatetimeIndex


def load_data(window: int = WINDOW) -> CallbackData:
    """Prices from the cache -> absolute returns (percent) -> windows -> train / validation / test, in time order."""
    returns = data_mod.abs_returns(data_mod.load_prices(TICKER, START, END)) * 100.0
    X, y = make_windows(returns, window)
    dates = np.asarray(returns.index[window:])
    X_rest, X_test, y_rest, y_test, _, dates_test = chronological_split(X, y, dates, test_size=TEST_SIZE)
    X_train, X_val, y_train, y_val = chronological_split(X_rest, y_rest, test_size=VALIDATION_SIZE)
    return CallbackData(X_train.astype("float32"), y_train.astype("float32"), X_val.astype("float32"),
                        y_val.astype("float32"), X_test.astype("float32"), y_test.astype("float32"),
                        pd.DatetimeIndex(dates_test))


def epochs() -> int:
    """``EPOCHS``, or ``DL4F_TP_EPOCHS`` when set (the instructor's quick runs)."""
    env = os.environ.get("DL4F_TP_EPOCHS", "").strip()
    if not env:
        return EPOCHS
    if not env.isdigit() or int(env) < 1:
        raise ValueError(f"DL4F_TP_EPOCHS must be a positive integer, got {env!r}")
    return int(env)


def build_model(seed: int = 0, learning_rate: float = LEARNING_RATE) -> keras.Model:
    """The TP's network: WINDOW inputs -> Dense(UNITS, relu) -> Dense(1), compiled with Adam and the MSE.

    ``seed`` fixes the initial weights and the shuffling of the training that follows.
    """
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((WINDOW,)), keras.layers.Dense(UNITS, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


def train(model: keras.Model, data: CallbackData, callbacks=(), n_epochs: int | None = None) -> dict:
    """Fit ``model`` on the training split, validated on the validation split; returns ``history.history``.

    ``history["loss"]`` and ``history["val_loss"]`` hold one value per epoch that ran (fewer than ``n_epochs``
    when a callback stopped the training).
    """
    n_epochs = epochs() if n_epochs is None else n_epochs
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}")
    history = model.fit(data.X_train, data.y_train, validation_data=(data.X_val, data.y_val), epochs=n_epochs,
                        batch_size=BATCH_SIZE, callbacks=list(callbacks), verbose=0)
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def predict(model: keras.Model, X) -> np.ndarray:
    """Forecasts of ``model`` on windows ``X``, as a float64 vector."""
    return np.asarray(model.predict(np.asarray(X, dtype="float32"), batch_size=4096, verbose=0),
                      dtype="float64").reshape(-1)


def qlike(y_true, y_pred) -> float:
    """QLIKE of absolute-return forecasts (``dl4f.evaluation.qlike``): lower is better, 0 is the constant forecast.

    Each forecast ``f`` of ``|r|`` is scored as the variance forecast ``(pi/2) f^2`` (``evaluation.abs_to_variance``)
    against the squared return.
    """
    return evaluation.qlike(np.asarray(y_true, dtype="float64").reshape(-1),
                            np.asarray(y_pred, dtype="float64").reshape(-1))


def r2(y_true, y_pred) -> float:
    """R² of forecasts (``dl4f.evaluation.r2``)."""
    return evaluation.r2(np.asarray(y_true, dtype="float64").reshape(-1), np.asarray(y_pred, dtype="float64").reshape(-1))
