"""dl4f.training: the TP's callbacks, a reproducible fit, shapes handled for every model kind."""

import keras
import numpy as np
import pytest

from dl4f import models, training
from dl4f.training import fit, predict


def test_tp_callbacks_have_the_tp_parameters():
    early, plateau, nan = training.tp_callbacks()
    assert isinstance(early, keras.callbacks.EarlyStopping)
    assert (early.monitor, early.min_delta, early.patience, early.restore_best_weights, early.start_from_epoch) == (
        "val_loss", 1e-5, 10, True, 6)
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    assert (plateau.monitor, plateau.factor, plateau.patience, plateau.min_delta, plateau.min_lr) == (
        "val_loss", 0.25, 5, 1e-5, 2.5e-5)
    assert isinstance(nan, keras.callbacks.TerminateOnNaN)
    assert training.tp_callbacks()[0] is not early  # fresh objects: callbacks carry state between fits


def _toy(n=256, window=10, seed=0):
    """y = mean of the last 3 values: learnable by every model in a few epochs."""
    X = np.random.default_rng(seed).random((n, window)).astype("float32")
    return X, X[:, -3:].mean(axis=1)


def _small_lstm():
    return models.lstm(window=10, units=4)


def test_same_seed_same_model_other_seed_other_model():
    X, y = _toy()
    kwargs = dict(epochs=2, batch_size=64, callbacks=[], validation_split=0.0)
    a, _ = fit(_small_lstm, X, y, seed=7, **kwargs)
    b, _ = fit(_small_lstm, X, y, seed=7, **kwargs)
    c, _ = fit(_small_lstm, X, y, seed=8, **kwargs)
    np.testing.assert_array_equal(predict(a, X), predict(b, X))
    assert np.abs(predict(a, X) - predict(c, X)).max() > 1e-4


def test_fit_learns_and_reports_history():
    X, y = _toy()
    model, history = fit(lambda: models.mlp(window=10, units=16), X, y, epochs=30, batch_size=32, learning_rate=3e-3)
    assert set(history) >= {"loss", "val_loss"} and len(history["loss"]) >= 7
    baseline = np.mean((y - y.mean()) ** 2)
    assert np.mean((predict(model, X) - y) ** 2) < 0.2 * baseline


def test_shapes_are_adapted_to_the_model():
    X, y = _toy(n=64)
    lstm, _ = fit(_small_lstm, X, y, epochs=1, callbacks=[], validation_split=0.0)
    assert predict(lstm, X).shape == (64,) and predict(lstm, X[..., None]).shape == (64,)
    ols, history = fit(models.linear_regression(), X[..., None], y)
    assert history == {} and np.abs(predict(ols, X) - y).max() < 1e-5  # y is linear in X: OLS is exact


@pytest.mark.parametrize(
    "X, y, kwargs, message",
    [
        (np.zeros((10, 10)), np.zeros(9), {}, "10 samples but y has 9"),
        (np.zeros((10, 10)), np.full(10, np.nan), {}, "y holds NaN"),
        (np.full((10, 10), np.nan), np.zeros(10), {}, "X holds NaN"),
        (np.zeros(10), np.zeros(10), {}, "samples, window"),
        (np.zeros((10, 10)), np.zeros(10), {"epochs": 0}, "epochs"),
        (np.zeros((10, 10)), np.zeros(10), {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_inputs_are_explained(X, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(_small_lstm, X, y, **kwargs)
