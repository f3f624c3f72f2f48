"""dl4f.callbacks, driven by scripted loss curves (no training): the TP's min_delta trap and its fix."""

import keras
import numpy as np
import pytest

from dl4f import callbacks, models, training

# a validation loss of the RNN TP's size in raw units (~3e-5), improving slowly until epoch 12, then flat
RAW = 3e-5 * np.array([1.30, 1.20, 1.12, 1.08, 1.05, 1.03, 1.02, 1.01, 1.00, 0.99, 0.985, 0.98] + [0.99] * 20)


def _stop_and_best(cbs, curve):
    table = callbacks.replay(cbs, curve)
    early = cbs[0]
    return len(table), early.best_epoch + 1


def test_tp_callbacks_stop_at_17_and_restore_7_in_raw_units():
    cbs = training.tp_callbacks()
    table = callbacks.replay(cbs, RAW)
    assert len(table) == 17 and table["stop"].iloc[-1]
    assert cbs[0].best_epoch + 1 == 7  # start_from_epoch=6: the first epoch looked at, never beaten by 1e-5
    # ReduceLROnPlateau sees no improvement either: the rate is cut every 5 epochs, down to its floor
    lr = table["learning_rate"].to_numpy()
    assert lr[0] == pytest.approx(1e-3) and lr[-1] == pytest.approx(2.5e-5)
    assert np.sum(np.diff(lr) < 0) == 3


def test_relative_early_stopping_does_not_depend_on_units():
    raw = _stop_and_best([callbacks.RelativeEarlyStopping(rel_delta=1e-3, patience=5)], RAW)
    percent = _stop_and_best([callbacks.RelativeEarlyStopping(rel_delta=1e-3, patience=5)], RAW * 1e4)
    assert raw == percent == (17, 12)  # best at epoch 12, stopped after 5 epochs without a 0.1 % gain
    # the absolute threshold changes meaning with the units: in percent (loss x 1e4) every gain counts
    cbs = training.tp_callbacks()
    callbacks.replay(cbs, RAW * 1e4)
    assert cbs[0].best_epoch + 1 == 12


def test_relative_early_stopping_restores_the_best_weights():
    model = models.mlp(window=3, units=2, depth=1)
    model.compile(optimizer="sgd", loss="mse")
    cb = callbacks.RelativeEarlyStopping(rel_delta=0.01, patience=2)
    cb.set_model(model)
    cb.on_train_begin()
    weights = []
    for epoch, value in enumerate([1.0, 0.5, 0.499, 0.6]):
        model.set_weights([w + epoch for w in model.get_weights()])
        weights.append(model.get_weights())
        cb.on_epoch_end(epoch, {"val_loss": value})
    assert model.stop_training and cb.stopped_epoch == 3 and cb.best_epoch == 1  # 0.499 is not 1 % below 0.5
    cb.on_train_end()
    for got, want in zip(model.get_weights(), weights[1], strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="fraction"):
        callbacks.RelativeEarlyStopping(rel_delta=5)
    with pytest.raises(ValueError, match="val_loss"):
        cb.on_epoch_end(0, {"loss": 1.0})


def test_training_monitor_records_learning_rate_and_gradient_norm():
    keras.utils.set_random_seed(0)
    X = np.random.default_rng(0).random((64, 4)).astype("float32")
    y = X.sum(axis=1)
    model = models.mlp(window=4, units=4, depth=1)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    monitor = callbacks.TrainingMonitor((X, y))
    history = model.fit(X, y, epochs=4, batch_size=16, shuffle=False, verbose=0, callbacks=[monitor]).history
    assert monitor.history["learning_rate"] == pytest.approx([0.05] * 4)
    norms = monitor.history["grad_norm"]
    assert len(norms) == 4 and all(n > 0 for n in norms)
    assert norms[-1] < norms[0]  # training flattens the loss around the weights
    assert history["grad_norm"] == norms
    # the output bias alone has gradient 2 mean(pred - y): the full norm is at least that large
    pred = model.predict(X, verbose=0).reshape(-1)
    assert monitor.gradient_norm() >= abs(2 * np.mean(pred - y)) - 1e-4
