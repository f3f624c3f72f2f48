"""An LSTM written from its gate equations, in the shape of Keras's own ``keras.layers.LSTM``.

``GateLSTMCell`` computes ONE time step. With ``z = x_t W + h_{t-1} U + b`` split in four blocks
(gate order i, f, c, o, as Keras stores them), equivalently ``W . [h_{t-1}, x_t] + b``::

    i_t  = sigmoid(z_i)               input gate
    f_t  = sigmoid(z_f)               forget gate
    c~_t = tanh(z_c)                  candidate cell state
    o_t  = sigmoid(z_o)               output gate
    c_t  = f_t * c_{t-1} + i_t * c~_t
    h_t  = o_t * tanh(c_t)

``GateLSTM`` runs the cell over the time axis with ``keras.ops.scan``. A Python ``for`` loop over the
200 steps gives the same numbers, but under JAX it is unrolled into 200 copies of the step: minutes of
compilation and several GB of memory. ``scan`` compiles the step once and loops inside the compiled
program. Weights have the same names, shapes and order as ``keras.layers.LSTM``, so
``layer.set_weights(keras_lstm.get_weights())`` makes the two layers compute the same function.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dl4f")
class GateLSTMCell(keras.layers.Layer):
    """One LSTM step: ``(x_t, [h_{t-1}, c_{t-1}]) -> (h_t, [h_t, c_t])``, the Keras RNN-cell convention."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError("the last dimension (features per time step) of the input must be known")
        self.kernel = self.add_weight(
            shape=(input_dim, 4 * self.units), initializer="glorot_uniform", name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, 4 * self.units), initializer="orthogonal", name="recurrent_kernel"
        )

        def bias_init(shape, dtype=None):  # forget-gate bias 1: remember by default (Jozefowicz et al., 2015)
            u = self.units
            return ops.concatenate([ops.zeros((u,)), ops.ones((u,)), ops.zeros((2 * u,))])

        self.bias = self.add_weight(shape=(4 * self.units,), initializer=bias_init, name="bias")

    def step(self, x_t, h_prev, c_prev):
        """The six gate equations for one time step; returns ``(h_t, c_t)``."""
        z = ops.matmul(x_t, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = ops.sigmoid(z_i)
        f = ops.sigmoid(z_f)
        c_tilde = ops.tanh(z_c)
        o = ops.sigmoid(z_o)
        c = f * c_prev + i * c_tilde
        h = o * ops.tanh(c)
        return h, c

    def call(self, inputs, states, training=False):
        h, c = self.step(inputs, states[0], states[1])
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def scan_steps(step, inputs, units: int):
    """Run ``step(x_t, h_prev, c_prev) -> (h_t, c_t)`` over the time axis with ``keras.ops.scan``.

    ``inputs`` is (batch, time, features); the states start at zero. Returns ``(h_last, h_all)``: the last
    hidden state (batch, units) and every hidden state (batch, time, units).
    """
    batch = ops.shape(inputs)[0]
    h0 = ops.zeros((batch, units), dtype=inputs.dtype)
    c0 = ops.zeros((batch, units), dtype=inputs.dtype)
    xs = ops.transpose(inputs, (1, 0, 2))  # scan walks the leading axis: put time first

    def body(carry, x_t):
        h, c = step(x_t, *carry)
        return (h, c), h

    (h_last, _), h_all = ops.scan(body, (h0, c0), xs)
    return h_last, ops.transpose(h_all, (1, 0, 2))


@keras.saving.register_keras_serializable(package="dl4f")
class GateLSTM(keras.layers.Layer):
    """Runs ``GateLSTMCell`` over a sequence ``(batch, time, features)`` with ``keras.ops.scan``.

    Returns the last hidden state ``(batch, units)``, or every hidden state ``(batch, time, units)``
    when ``return_sequences=True`` (to feed a second recurrent layer).
    """

    def __init__(self, units: int, return_sequences: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.return_sequences = bool(return_sequences)
        self.cell = GateLSTMCell(units, name="cell")

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"GateLSTM expects (batch, time, features), got shape {tuple(input_shape)}")
        self.cell.build((input_shape[0], input_shape[-1]))

    def call(self, inputs):
        h_last, h_all = scan_steps(self.cell.step, inputs, self.units)
        return h_all if self.return_sequences else h_last

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_sequences": self.return_sequences}
