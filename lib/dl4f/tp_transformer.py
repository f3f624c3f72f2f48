"""The transformer TP: next-day absolute return of 20 S&P 500 stocks from their recent windows, on real data.

What the notebook imports (data, recipe, constants); it holds no check, no threshold and no solution:

- ``load_data()``: daily closes of the 20 stocks of skfolio's dataset (``dl4f.data.load_stocks``, read from the
  cache) -> absolute daily returns in percent -> for each stock ``j`` and each day ``t``, a window of the last
  ``WINDOW`` days with two features per day, the stock's own absolute return and the market's (the mean over the
  20 stocks), the stock's id ``j``, and the target ``|r_{j,t+1}|`` -> a chronological split at ``TEST_START``
  (every stock's test windows come after every training target);
- ``fit_kwargs()``: how the networks are trained (``RECIPE``; ``DL4F_TP_EPOCHS`` shortens it for quick runs).

Rows are sorted by target date (then by stock), so Keras's ``validation_split`` keeps the latest training days
for validation: a chronological validation set too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dl4f import data as data_mod
from dl4f import training

TICKERS = data_mod.STOCK_TICKERS  # the 20 stocks, alphabetical; a stock's id is its position here
START = "2005-01-01"
END = "2022-12-29"  # exclusive: the dataset ends on 2022-12-28
TEST_START = "2019-01-01"  # targets from this day on are the test set
WINDOW = 22  # a trading month: what the HAR model's monthly average needs
FEATURES = ("own", "market")  # per day: the stock's |r| and the mean |r| of the 20 stocks, in percent
N_ASSETS = len(TICKERS)
RECIPE = {"epochs": 15, "batch_size": 256, "learning_rate": 1e-3, "validation_split": 0.2}


@dataclass
class TPData:
    """``X_*`` (n, WINDOW, 2) float32: per day, own and market absolute returns in percent; ``asset_*`` (n,) int32:
    the stock's id; ``y_*`` (n,): the next day's absolute return of the stock; ``dates_*``: each target's day."""

    X_train: np.ndarray
    asset_train: np.ndarray
    y_train: np.ndarray
    dates_train: pd.DatetimeIndex
    X_test: np.ndarray
    asset_test: np.ndarray
    y_test: np.ndarray
    dates_test: pd.DatetimeIndex
    abs_returns: pd.DataFrame  # (days, 20): the absolute returns in percent, one column per stock

    def inputs(self, part: str) -> dict:
        """The models' inputs of ``part`` ("train" or "test"): ``{"window": X, "asset": ids}``."""
        if part not in ("train", "test"):
            raise ValueError(f'part must be "train" or "test", got {part!r}')
        return {"window": getattr(self, f"X_{part}"), "asset": getattr(self, f"asset_{part}")}


def abs_returns(start: str = START, end: str = END) -> pd.DataFrame:
    """Absolute daily returns in percent of the 20 stocks on ``[start, end)`` (the first day has none)."""
    prices = data_mod.load_stocks(list(TICKERS), start, end)
    return (prices.pct_change().iloc[1:].abs() * 100.0).astype("float64")


def panel(abs_r: pd.DataFrame, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Windows of every stock of ``abs_r`` (days x stocks), sorted by target day then stock.

    Row ``(t, j)``: ``X`` (window, 2) = the stock's and the market's absolute returns on the ``window`` days before
    ``t``, ``asset = j``, ``y = abs_r[t, j]``, ``date = t``.
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    values = np.asarray(abs_r, dtype="float64")
    if values.ndim != 2 or np.isnan(values).any():
        raise ValueError("abs_r must be a (days, stocks) table without NaN")
    days, n_assets = values.shape
    if days <= window:
        raise ValueError(f"{days} days are too few for windows of {window} days")
    market = values.mean(axis=1)
    own = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)[: days - window]  # (t, stock, window)
    mkt = np.lib.stride_tricks.sliding_window_view(market, window)[: days - window]  # (t, window)
    X = np.stack([own, np.broadcast_to(mkt[:, None, :], own.shape)], axis=-1)  # (t, stock, window, 2)
    n = (days - window) * n_assets
    X = X.reshape(n, window, 2).astype("float32")
    asset = np.tile(np.arange(n_assets, dtype="int32"), days - window)
    y = values[window:].reshape(n)
    dates = pd.DatetimeIndex(np.repeat(abs_r.index[window:].values, n_assets))
    return X, asset, y, dates


def load_data(window: int = WINDOW, start: str = START, end: str = END, test_start: str = TEST_START) -> TPData:
    """The TP's panel of windows, split in time at ``test_start``."""
    abs_r = abs_returns(start, end)
    X, asset, y, dates = panel(abs_r, window)
    test = np.asarray(dates >= pd.Timestamp(test_start))
    if test.all() or not test.any():
        raise ValueError(f"test_start {test_start} leaves an empty training or test set in [{start}, {end})")
    return TPData(X[~test], asset[~test], y[~test], dates[~test], X[test], asset[test], y[test], dates[test], abs_r)


def fit_kwargs(epochs: int | None = None) -> dict:
    """Keyword arguments of ``model.fit`` (after ``model.compile(keras.optimizers.Adam(learning_rate()), "mse")``).

    The number of epochs is, in order: the ``epochs`` argument, the ``DL4F_TP_EPOCHS`` environment variable (the
    instructor's quick runs), ``RECIPE``. The epoch with the lowest validation loss is kept.
    """
    return training.recipe_fit_kwargs(RECIPE, epochs)


def learning_rate() -> float:
    """The recipe's learning rate of Adam."""
    return RECIPE["learning_rate"]


def copy_weights(target, weights: list) -> None:
    """``target.set_weights(weights)`` (a layer or a model), each array reshaped to ``target``'s own weight's shape.

    Keras's ``MultiHeadAttention`` stores a projection as ``(d_model, num_heads, key_dim)``; a layer that stores it as
    ``(d_model, num_heads * key_dim)`` holds the same numbers in the same order, and receives them reshaped. The
    weights must come in the same order and with the same sizes; else ``ValueError`` says which one differs.
    """
    own = target.get_weights()
    if len(own) != len(weights):
        raise ValueError(f"{target.name} has {len(own)} weights, {len(weights)} were given: create them in Keras's "
                         "order (for attention: the query, key, value and output kernels and biases, in that order)")
    values = []
    for k, (mine, given) in enumerate(zip(own, weights, strict=True)):
        given = np.asarray(given)
        if mine.size != given.size:
            raise ValueError(f"weight {k} of {target.name} has shape {mine.shape}, the given one {given.shape}: the "
                             "weights must be created in Keras's order (query, key, value, output; kernel then bias)")
        values.append(given.astype(mine.dtype).reshape(mine.shape))
    target.set_weights(values)
