"""Validation on time series: walk-forward (expanding or rolling) splits, and standardisation fitted on training data.

A walk-forward split never tests on a sample that precedes a training sample: fold ``k`` trains on
``[start_k, t_k)`` and tests on ``[t_k + gap, t_{k+1})``. ``gap`` drops samples between the two, for targets
that look several days ahead (a horizon ``h`` calls for ``gap = h - 1``).
"""

from __future__ import annotations

import numpy as np


def walk_forward_splits(n: int, n_folds: int, *, min_train: int, gap: int = 0, expanding: bool = True):
    """``n_folds`` pairs ``(train_idx, test_idx)`` of integer arrays over ``range(n)``, in time order.

    The samples after the first ``min_train`` are cut into ``n_folds`` consecutive test blocks of equal
    size (the last takes the remainder). Expanding: each fold trains on everything before its test block.
    Rolling (``expanding=False``): each fold trains on the ``min_train`` samples before its test block.
    """
    for name, value in (("n", n), ("n_folds", n_folds), ("min_train", min_train)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(gap, bool) or not isinstance(gap, (int, np.integer)) or gap < 0:
        raise ValueError(f"gap must be a non-negative integer (samples dropped before each test block), got {gap!r}")
    block = (n - min_train) // n_folds
    if block <= gap:
        raise ValueError(
            f"{n} samples leave {n - min_train} after min_train={min_train}: too few for {n_folds} test blocks "
            f"longer than gap={gap}; lower n_folds or min_train"
        )
    splits = []
    for k in range(n_folds):
        start = min_train + k * block
        stop = n if k == n_folds - 1 else start + block
        train_start = 0 if expanding else start - min_train
        splits.append((np.arange(train_start, start), np.arange(start + gap, stop)))
    return splits


def standardise(train, *others):
    """Standardise ``train`` and ``others`` with the mean and standard deviation of ``train`` only (one scalar each).

    Returns ``(train_z, *others_z, (mean, std))``. Using statistics of the whole sample instead lets the
    test period leak into the inputs.
    """
    train = np.asarray(train, dtype=np.float64)
    mean, std = float(train.mean()), float(train.std())
    if not std > 0:
        raise ValueError("the training data are constant: cannot standardise")
    return (train - mean) / std, *[(np.asarray(o, dtype=np.float64) - mean) / std for o in others], (mean, std)
