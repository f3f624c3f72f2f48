"""Student-like CustomLSTM layers for tests/test_lstm_checks.py and benchmarks/calibrate_lstm_checks.py.

``CORRECT``: correct LSTMs in different weight layouts (all must pass every check). ``BROKEN``: one mistake
each, with the check that must catch it (``None``: only the training check or nothing is expected to).
"""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import ops


class _Base(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, inputs):
        h0 = ops.zeros((ops.shape(inputs)[0], self.units), dtype=inputs.dtype)

        def f(carry, x_t):
            return self.step(x_t, *carry), None

        (h, _), _ = ops.scan(f, (h0, h0), ops.transpose(inputs, (1, 0, 2)))
        return h


class FusedLSTM(_Base):
    """Keras's layout: kernel (d, 4u), recurrent kernel (u, 4u), bias (4u,), gates i f c o."""

    def build(self, input_shape):
        u = self.units
        self.W = self.add_weight(shape=(input_shape[-1], 4 * u), initializer="glorot_uniform")
        self.U = self.add_weight(shape=(u, 4 * u), initializer="orthogonal")
        self.b = self.add_weight(shape=self.bias_shape(), initializer="zeros")

    def bias_shape(self):
        return (4 * self.units,)

    def bias(self):
        return self.b

    def pre(self, x_t, h_prev):
        return ops.matmul(x_t, self.W) + ops.matmul(h_prev, self.U) + self.bias()

    def gates(self, x_t, h_prev):
        zi, zf, zc, zo = ops.split(self.pre(x_t, h_prev), 4, axis=-1)
        return ops.sigmoid(zi), ops.sigmoid(zf), ops.tanh(zc), ops.sigmoid(zo)

    def step(self, x_t, h_prev, c_prev):
        i, f, g, o = self.gates(x_t, h_prev)
        c = f * c_prev + i * g
        return o * ops.tanh(c), c


class Bias1x4uLSTM(FusedLSTM):
    """Bias of shape (1, 4u)."""

    def bias_shape(self):
        return (1, 4 * self.units)


class Bias4xuLSTM(FusedLSTM):
    """Bias of shape (4, u), one row per gate."""

    def bias_shape(self):
        return (4, self.units)

    def bias(self):
        return ops.reshape(self.b, (-1,))


class StackedLSTM(_Base):
    """One kernel (4, u + d, u) over [h, x], gates in the order o, c, f, i; bias (4, u)."""

    def build(self, input_shape):
        u, d = self.units, input_shape[-1]
        self.K = self.add_weight(shape=(4, u + d, u), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(4, u), initializer="zeros")

    def step(self, x_t, h_prev, c_prev):
        hx = ops.concatenate([h_prev, x_t], axis=-1)
        zo, zc, zf, zi = (ops.matmul(hx, self.K[k]) + self.b[k] for k in range(4))
        c = ops.sigmoid(zf) * c_prev + ops.sigmoid(zi) * ops.tanh(zc)
        return ops.sigmoid(zo) * ops.tanh(c), c


class PerGateLSTM(_Base):
    """One matrix per gate; W created in the order i, f, c, o, U in the order f, o, i, c, biases c, i, o, f."""

    def build(self, input_shape):
        u, d = self.units, input_shape[-1]
        self.W = {g: self.add_weight(shape=(d, u), name=f"W_{g}") for g in "ifco"}
        self.U = {g: self.add_weight(shape=(u, u), initializer="orthogonal", name=f"U_{g}") for g in "foic"}
        self.B = {g: self.add_weight(shape=(u,), initializer="zeros", name=f"b_{g}") for g in "ciof"}

    def step(self, x_t, h_prev, c_prev):
        def z(g):
            return ops.matmul(x_t, self.W[g]) + ops.matmul(h_prev, self.U[g]) + self.B[g]

        c = ops.sigmoid(z("f")) * c_prev + ops.sigmoid(z("i")) * ops.tanh(z("c"))
        return ops.sigmoid(z("o")) * ops.tanh(c), c


class ConcatXHLSTM(_Base):
    """One matrix (4u, d + u) applied to [x, h] (transposed layout), gates f, i, o, c; bias (4u,)."""

    def build(self, input_shape):
        u, d = self.units, input_shape[-1]
        self.M = self.add_weight(shape=(4 * u, d + u), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(4 * u,), initializer="zeros")

    def step(self, x_t, h_prev, c_prev):
        z = ops.matmul(ops.concatenate([x_t, h_prev], axis=-1), ops.transpose(self.M)) + self.b
        zf, zi, zo, zc = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(zf) * c_prev + ops.sigmoid(zi) * ops.tanh(zc)
        return ops.sigmoid(zo) * ops.tanh(c), c


class LoopLSTM(FusedLSTM):
    """Keras's layout with a Python for loop over the time steps in call."""

    def call(self, inputs):
        h = c = ops.zeros((ops.shape(inputs)[0], self.units), dtype=inputs.dtype)
        for t in range(inputs.shape[1]):
            h, c = self.step(inputs[:, t, :], h, c)
        return h


CORRECT = {
    "fused": FusedLSTM,
    "bias (1, 4u)": Bias1x4uLSTM,
    "bias (4, u)": Bias4xuLSTM,
    "stacked (4, u+d, u) over [h, x]": StackedLSTM,
    "per gate, W ifco, U foic": PerGateLSTM,
    "[x, h] transposed": ConcatXHLSTM,
    "loop-written call": LoopLSTM,
}


class BrokenLSTM(FusedLSTM):
    """Keras's layout with one mistake, named by ``kind``."""

    def __init__(self, units, kind="", **kwargs):
        super().__init__(units, **kwargs)
        self.kind = kind

    def bias(self):
        return 0.0 if self.kind == "no_bias" else self.b

    def step(self, x_t, h_prev, c_prev):
        k = self.kind
        if k == "no_h":
            h_prev = ops.zeros_like(h_prev)
        if k == "stop_gradient_h":
            h_prev = ops.stop_gradient(h_prev)
        zi, zf, zc, zo = ops.split(self.pre(x_t, h_prev), 4, axis=-1)
        sig = ops.hard_sigmoid if k == "hard_sigmoid" else ops.sigmoid
        i = ops.tanh(zi) if k == "input_tanh" else sig(zi)
        f = sig(zf + c_prev) if k == "peephole" else sig(zf)
        g = ops.sigmoid(zc) if k == "candidate_sigmoid" else ops.tanh(zc)
        if k == "tanh_with_exp":  # right on inputs of order 1, NaN when exp overflows
            g = (ops.exp(zc) - ops.exp(-zc)) / (ops.exp(zc) + ops.exp(-zc))
        o = sig(zo)
        if k == "cifg":
            i = 1.0 - f
        if k == "o_is_f":
            o = f
        if k == "double_tanh":
            g = ops.tanh(g)
        if k == "no_input_gate":
            i = ops.ones_like(i)
        if k == "no_forget_gate":
            f = ops.ones_like(f)
        c = f * c_prev + i * g
        h = o * c if k == "h_no_tanh" else (ops.tanh(c) if k == "no_output_gate" else o * ops.tanh(c))
        return (c, h) if k == "swapped" else (h, c)

    def call(self, inputs):
        k = self.kind
        if k == "call_backwards":
            inputs = ops.flip(inputs, axis=1)
        start = 0.5 if k == "call_init_nonzero" else 0.0
        h0 = ops.zeros((ops.shape(inputs)[0], self.units), dtype=inputs.dtype) + start

        def f(carry, x_t):
            return self.step(x_t, *carry), None

        (h, c), _ = ops.scan(f, (h0, h0), ops.transpose(inputs, (1, 0, 2)))
        if k == "call_returns_pair":
            return h, c
        return c if k == "call_returns_c" else h


class ConstantWeightsLSTM(_Base):
    """A correct step whose weights are numpy constants, not variables: nothing to train, nothing to set."""

    def build(self, input_shape):
        rng = np.random.default_rng(0)
        u, d = self.units, input_shape[-1]
        self.W = rng.normal(0, 0.5, (d, 4 * u)).astype("float32")
        self.U = rng.normal(0, 0.5, (u, 4 * u)).astype("float32")
        self.b = rng.normal(0, 0.5, (4 * u,)).astype("float32")

    step = FusedLSTM.step
    gates = FusedLSTM.gates

    def pre(self, x_t, h_prev):
        return ops.matmul(x_t, self.W) + ops.matmul(h_prev, self.U) + self.b


# kind -> the check that must fail
BROKEN_KINDS = {
    "candidate_sigmoid": "input_and_candidate",
    "input_tanh": "input_and_candidate",
    "no_input_gate": "input_and_candidate",
    "no_forget_gate": "forget_gate",
    "no_output_gate": "output_gate",
    "h_no_tanh": "output_gate",
    "double_tanh": "input_and_candidate",
    "swapped": "cell_state",
    "no_bias": "forget_gate",
    "no_h": "forget_gate",
    "hard_sigmoid": "forget_gate",
    "peephole": "cell_state",
    "cifg": "distinct_gates",
    "o_is_f": "distinct_gates",
    "tanh_with_exp": "input_and_candidate",
    "call_backwards": "call_matches_steps",
    "call_init_nonzero": "call_matches_steps",
    "call_returns_c": "call_matches_steps",
    "call_returns_pair": "shapes",
}


def broken(kind: str):
    """``BrokenLSTM`` with ``kind`` bound: called as ``layer_cls(units)`` like the student's class."""
    return functools.partial(BrokenLSTM, kind=kind)
