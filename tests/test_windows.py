"""dl4f.windows: the vectorised windows equal the TP's loop; the split is chronological."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from dl4f.windows import chronological_split, make_windows


def create_sequences(data, seq_length, horizon=1):
    """The TP's loop, generalised to a horizon: the reference make_windows must equal."""
    X, y = [], []
    for i in range(len(data) - seq_length - horizon + 1):
        X.append(data[i : i + seq_length])
        y.append(data[i + seq_length + horizon - 1])
    return np.array(X), np.array(y)


@pytest.mark.parametrize("length, horizon", [(1, 1), (5, 1), (5, 3), (20, 7), (199, 2)])
def test_equals_the_tp_loop(length, horizon):
    series = np.random.default_rng(length * 10 + horizon).normal(size=220)
    X, y = make_windows(series, length, horizon)
    X_ref, y_ref = create_sequences(series, length, horizon)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert X.flags.writeable and X.base is None  # a copy, not a view on the caller's series


def test_tp_shapes_on_real_data(market_cache):
    from dl4f import data

    returns = data.abs_returns(data.load_prices("^GSPC", "2000-01-01", "2024-01-01"))
    X, y = make_windows(returns, 200, 1)
    assert X.shape == (5836, 200) and y.shape == (5836,)
    X_tr, X_te, y_tr, y_te = chronological_split(X, y, test_size=0.2)
    assert (len(X_tr), len(X_te)) == (4668, 1168)
    # the first test target is the day right after the last training target
    assert y_tr[-1] == returns.iloc[200 + 4667] and y_te[0] == returns.iloc[200 + 4668]


@pytest.mark.parametrize("n, test_size", [(10, 0.2), (5836, 0.2), (7, 0.5), (101, 0.33)])
def test_split_equals_sklearn_without_shuffle(n, test_size):
    X = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    ours = chronological_split(X, y, test_size=test_size)
    ref = train_test_split(X, y, test_size=test_size, shuffle=False)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "series, length, horizon, message",
    [
        (np.arange(10.0), 10, 1, "at least 11"),
        (np.arange(10.0), 0, 1, "positive integer"),
        (np.arange(10.0), 3, 0, "horizon"),
        (np.array([1.0, np.nan, 2.0, 3.0]), 2, 1, "NaN"),
        (np.ones((4, 2)), 2, 1, "one-dimensional"),
        (np.arange(10.0), 2.5, 1, "positive integer"),
    ],
)
def test_bad_windows_are_explained(series, length, horizon, message):
    with pytest.raises(ValueError, match=message):
        make_windows(series, length, horizon)


def test_bad_splits_are_explained():
    with pytest.raises(ValueError, match="same length"):
        chronological_split(np.arange(5), np.arange(4))
    with pytest.raises(ValueError, match="between 0 and 1"):
        chronological_split(np.arange(5), test_size=1.5)
    with pytest.raises(ValueError, match="too few"):
        chronological_split(np.arange(1), test_size=0.2)
