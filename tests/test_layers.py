"""dl4f.layers: the gate-equation LSTM computes what keras.layers.LSTM computes, and saves and loads."""

import keras
import numpy as np
import pytest

from dl4f.layers import GateLSTM, GateLSTMCell


def _random_weights(layer, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.get_weights()]


@pytest.mark.parametrize("return_sequences", [False, True])
def test_reproduces_keras_lstm_with_the_same_weights(return_sequences):
    x = np.random.default_rng(0).normal(size=(8, 25, 3)).astype("float32")
    reference = keras.layers.LSTM(6, return_sequences=return_sequences)
    reference(x)
    reference.set_weights(_random_weights(reference, 1))  # non-default biases too
    ours = GateLSTM(6, return_sequences=return_sequences)
    ours(x)
    ours.set_weights(reference.get_weights())
    expected = np.asarray(reference(x))
    got = np.asarray(ours(x))
    assert got.shape == expected.shape == ((8, 25, 6) if return_sequences else (8, 6))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_one_step_follows_the_six_equations():
    cell = GateLSTMCell(4)
    cell.build((None, 3))
    rng = np.random.default_rng(2)
    cell.set_weights(_random_weights(cell, 3))
    W, U, b = cell.get_weights()
    x, h, c = (rng.normal(size=s).astype("float32") for s in [(2, 3), (2, 4), (2, 4)])
    h_t, c_t = (np.asarray(v) for v in cell.step(x, h, c))

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    z = x @ W + h @ U + b
    i, f, g, o = sigmoid(z[:, :4]), sigmoid(z[:, 4:8]), np.tanh(z[:, 8:12]), sigmoid(z[:, 12:])
    c_ref = f * c + i * g
    np.testing.assert_allclose(c_t, c_ref, atol=1e-6)
    np.testing.assert_allclose(h_t, o * np.tanh(c_ref), atol=1e-6)


def test_closed_forget_gate_forgets_the_past():
    layer = GateLSTM(5)
    x = np.random.default_rng(4).normal(size=(2, 30, 1)).astype("float32")
    layer(x)
    W, U, b = layer.get_weights()
    b[5:10] = -1e4  # forget gate f = sigmoid(-1e4) = 0: c_t = i_t * c~_t, the past is dropped
    layer.set_weights([W, np.zeros_like(U), b])  # no recurrent path either
    changed_past = x.copy()
    changed_past[:, :-1] = np.random.default_rng(5).normal(size=(2, 29, 1))
    np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(layer(changed_past)), atol=1e-6)
    b[5:10] = 1e4  # forget gate open: the past matters
    layer.set_weights([W, np.zeros_like(U), b])
    assert np.abs(np.asarray(layer(x)) - np.asarray(layer(changed_past))).max() > 1e-3


def test_save_and_load_round_trip(tmp_path):
    model = keras.Sequential([keras.Input((12, 1)), GateLSTM(3, return_sequences=True), GateLSTM(3), keras.layers.Dense(1)])
    x = np.random.default_rng(6).normal(size=(4, 12, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[0], GateLSTM) and loaded.layers[0].return_sequences
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    assert GateLSTM.from_config(model.layers[1].get_config()).units == 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        GateLSTMCell(0)
    with pytest.raises(ValueError, match="batch, time, features"):
        GateLSTM(3)(np.zeros((2, 5), dtype="float32"))
