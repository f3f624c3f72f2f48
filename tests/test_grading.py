"""dl4f.grading: the checks behind the RNN TP's hidden tests accept correct variants and catch wrong work."""

import time

import keras
import numpy as np
import pytest
from keras import ops

from dl4f import grading, layers, models

# ----------------------------------------------------------------------------------------------------
# Student-like CustomLSTM variants (the interface the notebook fixes: CustomLSTM(units), step, call)


class FusedScanLSTM(keras.layers.Layer):
    """The reference layout: kernel (d, 4u), recurrent kernel (u, 4u), bias (4u,), gates i f c o, scan."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        u = self.units
        self.W = self.add_weight(shape=(input_shape[-1], 4 * u), initializer="glorot_uniform")
        self.U = self.add_weight(shape=(u, 4 * u), initializer="orthogonal")
        self.b = self.add_weight(shape=(4 * u,), initializer="zeros")

    def step(self, x_t, h_prev, c_prev):
        z = ops.matmul(x_t, self.W) + ops.matmul(h_prev, self.U) + self.b
        zi, zf, zc, zo = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(zf) * c_prev + ops.sigmoid(zi) * ops.tanh(zc)
        return ops.sigmoid(zo) * ops.tanh(c), c

    def call(self, inputs):
        h0 = ops.zeros((ops.shape(inputs)[0], self.units))

        def f(carry, x_t):
            return self.step(x_t, *carry), None

        (h, _), _ = ops.scan(f, (h0, h0), ops.transpose(inputs, (1, 0, 2)))
        return h


class PerGateLoopLSTM(keras.layers.Layer):
    """One (W, U, b) per gate, created gate by gate in the order i, f, o, c; a Python for loop in call."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        self.p = {}
        for g in "ifoc":
            self.p[g] = (self.add_weight(shape=(d, u)), self.add_weight(shape=(u, u)),
                         self.add_weight(shape=(u,), initializer="zeros"))

    def step(self, x_t, h_prev, c_prev):
        def gate(g, act):
            W, U, b = self.p[g]
            return act(ops.matmul(x_t, W) + ops.matmul(h_prev, U) + b)

        i, f, o = gate("i", ops.sigmoid), gate("f", ops.sigmoid), gate("o", ops.sigmoid)
        c = f * c_prev + i * gate("c", ops.tanh)
        return o * ops.tanh(c), c

    def call(self, inputs):
        h = c = ops.zeros((ops.shape(inputs)[0], self.units))
        for t in range(inputs.shape[1]):
            h, c = self.step(inputs[:, t, :], h, c)
        return h


class ConcatDenseLSTM(keras.layers.Layer):
    """One Dense(4u) over the concatenation [h_{t-1}, x_t], gates in the order f, i, o, c; scan."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(4 * units)

    def build(self, input_shape):
        self.dense.build((None, self.units + input_shape[-1]))

    def step(self, x_t, h_prev, c_prev):
        z = self.dense(ops.concatenate([h_prev, x_t], axis=-1))
        zf, zi, zo, zc = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(zf) * c_prev + ops.sigmoid(zi) * ops.tanh(zc)
        return ops.sigmoid(zo) * ops.tanh(c), c

    def call(self, inputs):
        h0 = ops.zeros((ops.shape(inputs)[0], self.units))

        def f(carry, x_t):
            h, c = self.step(x_t, *carry)
            return (h, c), h

        (h, _), _ = ops.scan(f, (h0, h0), ops.transpose(inputs, (1, 0, 2)))
        return h


class TransposedLSTM(FusedScanLSTM):
    """W of shape (4u, d + u) applied as W . [x_t, h_{t-1}] (column-vector convention)."""

    def build(self, input_shape):
        u = self.units
        self.W = self.add_weight(shape=(4 * u, input_shape[-1] + u))
        self.b = self.add_weight(shape=(4 * u,), initializer="zeros")

    def step(self, x_t, h_prev, c_prev):
        z = ops.matmul(ops.concatenate([x_t, h_prev], axis=-1), ops.transpose(self.W)) + self.b
        zi, zf, zc, zo = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(zf) * c_prev + ops.sigmoid(zi) * ops.tanh(zc)
        return ops.sigmoid(zo) * ops.tanh(c), c


class NoInputGateLSTM(FusedScanLSTM):
    """Wrong: c_t = f_t * c_{t-1} + c~_t (the input gate is missing)."""

    def step(self, x_t, h_prev, c_prev):
        z = ops.matmul(x_t, self.W) + ops.matmul(h_prev, self.U) + self.b
        zi, zf, zc, zo = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(zf) * c_prev + ops.tanh(zc)
        return ops.sigmoid(zo) * ops.tanh(c), c


class HiddenNotOutputGatedLSTM(FusedScanLSTM):
    """Wrong: h_t = tanh(c_t) (the output gate is missing)."""

    def step(self, x_t, h_prev, c_prev):
        z = ops.matmul(x_t, self.W) + ops.matmul(h_prev, self.U) + self.b
        zi, zf, zc, _ = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(zf) * c_prev + ops.sigmoid(zi) * ops.tanh(zc)
        return ops.tanh(c), c


class KerasCellWrapper(keras.layers.Layer):
    """Not allowed: wraps keras.layers.LSTMCell."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.cell = keras.layers.LSTMCell(units)

    def build(self, input_shape):
        self.cell.build((None, input_shape[-1]))

    def step(self, x_t, h_prev, c_prev):
        h, (h, c) = self.cell(x_t, [h_prev, c_prev])
        return h, c

    def call(self, inputs):
        return keras.layers.RNN(self.cell)(inputs)


class Dl4fSubclass(layers.GateLSTMCell):
    """Not allowed: dl4f's own reference implementation, renamed."""




@pytest.mark.parametrize("cls", [FusedScanLSTM, PerGateLoopLSTM, ConcatDenseLSTM, TransposedLSTM])
def test_correct_variants_match_keras_and_pass_the_gate_checks(cls):
    grading.check_own_lstm(cls)
    grading.check_matches_keras(cls)
    grading.check_gates(cls)


@pytest.mark.parametrize("cls", [NoInputGateLSTM, HiddenNotOutputGatedLSTM])
def test_wrong_equations_are_caught(cls):
    grading.check_own_lstm(cls)  # a layer of its own: this point is earned
    with pytest.raises(AssertionError, match="does not compute the LSTM equations"):
        grading.check_matches_keras(cls)
    with pytest.raises(AssertionError):
        grading.check_gates(cls)


@pytest.mark.parametrize("cls", [KerasCellWrapper, Dl4fSubclass, layers.GateLSTM])
def test_wrapping_a_ready_made_lstm_is_refused(cls):
    with pytest.raises(AssertionError, match="write the gate equations itself|step"):
        grading.check_own_lstm(cls)


def test_unknown_weight_layout_gives_a_clear_message():
    class Odd(FusedScanLSTM):
        def build(self, input_shape):
            self.W = self.add_weight(shape=(7, 3))

    with pytest.raises(AssertionError, match="could not map"):
        grading.match_keras_weights(Odd)


def test_unrolls_tells_a_python_loop_from_scan():
    assert grading.unrolls(PerGateLoopLSTM)
    assert not grading.unrolls(FusedScanLSTM)
    assert not grading.unrolls(ConcatDenseLSTM)


def test_scan_driven_layer_computes_what_the_loop_computes():
    layer = PerGateLoopLSTM(6)
    x = np.random.default_rng(0).normal(size=(3, 40, 1)).astype("float32")
    expected = np.asarray(layer(x))
    np.testing.assert_allclose(np.asarray(grading.ScanDriven(layer)(x)), expected, atol=1e-6)


def test_scan_if_unrolled_swaps_only_loop_layers():
    def build_loop():
        return keras.Sequential([keras.Input((30, 1)), PerGateLoopLSTM(4), keras.layers.Dense(1)])

    def build_scan():
        return keras.Sequential([keras.Input((30, 1)), FusedScanLSTM(4), keras.layers.Dense(1)])

    keras.utils.set_random_seed(0)
    loop_model = build_loop()
    x = np.random.default_rng(1).normal(size=(5, 30, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    swapped = grading.scan_if_unrolled(build_loop)()
    assert isinstance(swapped.layers[0], grading.ScanDriven)
    np.testing.assert_allclose(np.asarray(swapped(x)), np.asarray(loop_model(x)), atol=1e-6)
    kept = grading.scan_if_unrolled(build_scan)()
    assert isinstance(kept.layers[0], FusedScanLSTM)


def test_a_loop_written_cell_trains_in_seconds_and_passes_the_r2_threshold():
    """Question 4's R² part for a student who wrote the for loop: bounded time, full marks when correct."""
    t0 = time.perf_counter()
    assert grading.check_custom_lstm_r2(PerGateLoopLSTM) is None  # a value would be a partial score in nbgrader
    assert time.perf_counter() - t0 < 120


# ----------------------------------------------------------------------------------------------------
# Structure checks


def test_structure_checks_accept_the_reference_and_other_correct_writings():
    grading.check_recurrent(models.lstm(), keras.layers.LSTM, 1)
    grading.check_recurrent(models.gru(), keras.layers.GRU, 1)
    grading.check_recurrent(models.lstm_2layer(), keras.layers.LSTM, 2)
    grading.check_recurrent(models.gru_2layer(), keras.layers.GRU, 2)
    grading.check_mlp(models.mlp())
    # functional API, Dense(1, activation="linear"), a Reshape in front
    inp = keras.Input((200,))
    x = keras.layers.Reshape((200, 1))(inp)
    out = keras.layers.Dense(1, activation="linear")(keras.layers.LSTM(100)(x))
    grading.check_recurrent(keras.Model(inp, out), keras.layers.LSTM, 1)
    # an MLP on (200, 1) with a Flatten
    mlp = keras.Sequential([keras.Input((200, 1)), keras.layers.Flatten()]
                           + [keras.layers.Dense(100, activation="relu") for _ in range(3)] + [keras.layers.Dense(1)])
    grading.check_mlp(mlp)


def _seq(*layers_):
    return keras.Sequential([keras.Input((200, 1)), *layers_])


@pytest.mark.parametrize(
    "model, n_layers, message",
    [
        (lambda: _seq(keras.layers.LSTM(50), keras.layers.Dense(1)), 1, "100 units"),
        (lambda: _seq(keras.layers.LSTM(100, return_sequences=True), keras.layers.Dense(1)), 1, "last hidden state"),
        (lambda: _seq(keras.layers.LSTM(100), keras.layers.Dense(1, activation="relu")), 1, "linear"),
        (lambda: _seq(keras.layers.LSTM(100), keras.layers.Dense(2)), 1, "1 unit"),
        (lambda: _seq(keras.layers.GRU(100), keras.layers.Dense(1)), 1, "expected layers"),
        (lambda: _seq(keras.layers.LSTM(50, return_sequences=True), keras.layers.LSTM(100), keras.layers.Dense(1)), 2,
         "layer 1 must have 100 units"),
        (lambda: _seq(keras.layers.LSTM(100), keras.layers.Dense(1)), 2, "expected layers"),
        (lambda: _seq(keras.layers.LSTM(100, return_sequences=True), keras.layers.LSTM(100, return_sequences=True),
                      keras.layers.Dense(1)), 2, "last hidden state"),
    ],
)
def test_structure_checks_catch_wrong_lstm_models(model, n_layers, message):
    with pytest.raises(AssertionError, match=message):
        grading.check_recurrent(model(), keras.layers.LSTM, n_layers)


def test_mlp_check_catches_depth_and_activation():
    with pytest.raises(AssertionError, match="relu"):
        hidden = [keras.layers.Dense(100, activation="tanh") for _ in range(3)]
        grading.check_mlp(keras.Sequential([keras.Input((200,)), *hidden, keras.layers.Dense(1)]))
    with pytest.raises(AssertionError, match="4 Dense"):
        grading.check_mlp(models.mlp(depth=2))


def test_r2_checks_recompute_on_their_own_data_and_fail_untrained_models(tp_data):
    from dl4f import training

    linear, _ = training.fit(models.linear_regression, tp_data.X_train, tp_data.y_train)
    grading.check_linear(linear)
    assert grading.r2_on_test(linear) == pytest.approx(0.24583, abs=1e-4)
    assert grading.check_r2(linear, "Linear regression") is None  # a value would be a partial score in nbgrader
    keras.utils.set_random_seed(0)
    with pytest.raises(AssertionError, match="below"):
        grading.check_r2(models.mlp(), "MLP")
    with pytest.raises(AssertionError, match="not linear"):
        grading.check_linear(keras.Sequential([keras.Input((200,)), keras.layers.Dense(3, activation="relu"),
                                               keras.layers.Dense(1)]))


def test_thresholds_cover_every_model_and_sit_below_the_reference():
    from dl4f import tp_rnn

    assert set(grading.R2_THRESHOLDS) == set(models.BUILDERS)
    assert set(grading.QUICK_R2_THRESHOLDS) == set(models.BUILDERS)
    for name, ref in tp_rnn.REFERENCE_R2.items():
        assert 0 < grading.R2_THRESHOLDS[name] < ref
