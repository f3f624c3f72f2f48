"""Supervised windows from a series, and the chronological train/test split.

``make_windows`` is the vectorised twin of the TP's ``create_sequences`` loop::

    for i in range(len(series) - length - horizon + 1):
        X.append(series[i : i + length])          # the `length` past values
        y.append(series[i + length + horizon - 1])  # the value `horizon` steps after the window

It returns views built with ``sliding_window_view`` (no Python loop over samples), copied once.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _as_1d_float(series, name: str = "series") -> np.ndarray:
    values = series.to_numpy() if isinstance(series, (pd.Series, pd.DataFrame)) else np.asarray(series)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}")
    try:
        values = values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers: {exc}") from exc
    if np.isnan(values).any():
        raise ValueError(f"{name} holds {int(np.isnan(values).sum())} NaN values; drop them before windowing")
    return values


def make_windows(series, length: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``X`` of shape (n, length) and targets ``y`` of shape (n,), n = len(series) - length - horizon + 1."""
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}")
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1 (1 = next day), got {horizon!r}")
    values = _as_1d_float(series)
    n = len(values) - length - horizon + 1
    if n < 1:
        raise ValueError(
            f"a window of {length} values with horizon {horizon} needs at least {length + horizon} values, "
            f"the series has {len(values)}"
        )
    X = np.lib.stride_tricks.sliding_window_view(values, length)[:n].copy()
    y = values[length + horizon - 1 :].copy()
    return X, y


def chronological_split(*arrays, test_size: float = 0.2):
    """Split arrays in time order: the last ``ceil(test_size * n)`` samples are the test set.

    Same result as ``sklearn.model_selection.train_test_split(*arrays, test_size=..., shuffle=False)``;
    returns ``train_1, test_1, train_2, test_2, ...``.
    """
    if not arrays:
        raise ValueError("give at least one array to split")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"all arrays must have the same length, got {[len(a) for a in arrays]}")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}")
    n_test = math.ceil(test_size * n)
    if n_test >= n:
        raise ValueError(f"{n} samples are too few to keep a training set with test_size={test_size}")
    out = []
    for a in arrays:
        out.extend([a[: n - n_test], a[n - n_test :]])
    return out
