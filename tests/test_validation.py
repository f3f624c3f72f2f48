"""dl4f.validation: walk-forward splits never test on the past; standardisation uses training data only."""

import numpy as np
import pytest

from dl4f.validation import standardise, walk_forward_splits


def test_expanding_walk_forward_splits():
    splits = walk_forward_splits(100, 4, min_train=40)
    assert len(splits) == 4
    starts = [test[0] for _, test in splits]
    assert starts == [40, 55, 70, 85]
    for train, test in splits:
        assert train[0] == 0 and train[-1] == test[0] - 1  # everything before the test block
        assert train.max() < test.min()
    assert splits[-1][1][-1] == 99  # the last block takes the remainder
    covered = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(covered, np.arange(40, 100))


def test_rolling_splits_keep_a_fixed_training_length_and_gap_drops_samples():
    splits = walk_forward_splits(100, 3, min_train=30, expanding=False, gap=2)
    for train, test in splits:
        assert len(train) == 30
        assert test[0] - train[-1] == 3  # two samples dropped between train and test
    assert [len(test) for _, test in splits] == [21, 21, 22]


def test_walk_forward_rejects_impossible_requests():
    with pytest.raises(ValueError, match="too few"):
        walk_forward_splits(50, 10, min_train=45)
    with pytest.raises(ValueError, match="n_folds"):
        walk_forward_splits(50, 0, min_train=10)
    with pytest.raises(ValueError, match="gap"):
        walk_forward_splits(50, 2, min_train=10, gap=-1)


def test_standardise_uses_training_statistics_only():
    train, test = np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0])
    train_z, test_z, (mean, std) = standardise(train, test)
    assert mean == 2.0 and std == pytest.approx(np.sqrt(2 / 3))
    assert train_z.mean() == pytest.approx(0) and train_z.std() == pytest.approx(1)
    np.testing.assert_allclose(test_z, (test - 2.0) / np.sqrt(2 / 3))
    with pytest.raises(ValueError, match="constant"):
        standardise(np.ones(4))
