"""The optimization TP: portfolio problems on 20 real S&P 500 stocks, solved with SciPy and with JAX.

Conventions of the TP (the notebook states them; the grader uses the same):

- daily simple returns ``r_t = P_t / P_{t-1} - 1`` of adjusted closes (``dl4f.data.load_stocks``);
- on an estimation window, ``mu`` is the mean daily return and ``cov`` the sample covariance (divide by T - 1,
  as ``pandas.DataFrame.cov`` and ``numpy.cov``);
- annualised with ``TRADING_DAYS = 252``: return ``252 w'mu``, volatility ``sqrt(252 w'cov w)``, Sharpe ratio
  their quotient (risk-free rate 0);
- long-only, fully invested portfolios: ``sum(w) = 1``, ``w >= 0``;
- out of sample: estimate on ``[start, estimation_end)``, hold the weights (rebalanced daily) on
  ``[estimation_end, end)``: the estimation window ends before the holding window starts.

This module only loads data and times calls: what the notebook imports. It holds no check and no threshold.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from dl4f import data

TRADING_DAYS = 252
TICKERS = data.STOCK_TICKERS  # the 20 stocks, alphabetical
START = "2015-01-01"  # the notebook's estimation window: [START, ESTIMATION_END)
ESTIMATION_END = "2020-01-01"
END = "2022-12-29"  # the holding window: [ESTIMATION_END, END); the dataset ends on 2022-12-28
TIMING_SIZES = (5, 10, 20)


def load_returns(tickers=None, start=START, end=END) -> pd.DataFrame:
    """Daily simple returns of ``tickers`` (default: the 20 stocks) on ``[start, end)``, one column per ticker.

    Prices come from the local cache (``dl4f.data.load_stocks``, read only once filled); the first day of the
    window has no return and is dropped.
    """
    prices = data.load_stocks(list(TICKERS) if tickers is None else tickers, start, end)
    if len(prices) < 3:
        raise ValueError(f"[{start}, {end}) holds {len(prices)} days of prices: choose a longer window")
    return prices.pct_change().iloc[1:]


def split_at(returns: pd.DataFrame, date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``returns`` before ``date`` (excluded) and from ``date`` on: a chronological split, no shared day."""
    if not isinstance(returns.index, pd.DatetimeIndex):
        raise ValueError("returns must be indexed by dates (a pandas DatetimeIndex)")
    date = pd.Timestamp(date)
    return returns.loc[returns.index < date], returns.loc[returns.index >= date]


def best_time(fn, *args, repeat: int = 3, **kwargs) -> float:
    """The shortest wall-clock time in seconds of ``fn(*args, **kwargs)`` over ``repeat`` calls.

    The first call of a jitted JAX function compiles it: call it once before timing to time the run alone,
    or time the first call separately to see the compilation.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        if hasattr(out, "block_until_ready"):
            out.block_until_ready()
        times.append(time.perf_counter() - t0)
    return min(times)


def equal_weights(n: int) -> np.ndarray:
    """The equally weighted portfolio of ``n`` assets (the 1/N benchmark)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return np.full(n, 1.0 / n)
