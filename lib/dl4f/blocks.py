"""Residual connections and gates: the blocks of the chapter "Residual Connections and Gating Mechanisms".

``ResidualBlock`` (a two-layer branch added to its input, optional pre-layer-normalisation)::

    y = x + W_2 phi(W_1 LN(x) + b_1) + b_2

``GLU`` (gated linear unit, Dauphin et al., 2017): a linear map multiplied by a sigmoid gate::

    GLU(x) = (x W + b) * sigmoid(x V + c)

``GRN`` (gated residual network of the Temporal Fusion Transformer, Lim et al., 2021), with an optional
context vector ``c`` and a linear skip projection when the input and output widths differ::

    eta_2 = ELU(W_2 a + W_3 c + b_2)
    eta_1 = W_1 eta_2 + b_1
    GRN(a, c) = LayerNorm(skip(a) + GLU(dropout(eta_1)))

``plain_mlp``, ``residual_mlp`` and ``grn_mlp`` build the networks that the chapter compares: the same
number of Dense layers, with or without the skips and gates. Every layer has ``get_config`` and is
registered, so that a model that holds it saves and loads.
"""

from __future__ import annotations

import keras
from keras import ops


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _rate(value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"dropout must be a number in [0, 1), got {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="dl4f")
class ResidualBlock(keras.layers.Layer):
    """``y = x + W_2 phi(W_1 LN(x) + b_1) + b_2``: a two-layer branch added to the block's input.

    ``layer_norm=True`` normalises the branch's input (the "pre-norm" of Transformers); the identity path
    is never normalised. The output width is the input width (a residual sum needs equal shapes).
    """

    def __init__(self, hidden_units: int, activation="relu", layer_norm: bool = False, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = _positive_int("hidden_units", hidden_units)
        self.activation = keras.activations.get(activation)
        self.layer_norm = bool(layer_norm)
        self.dropout = _rate(dropout)

    def build(self, input_shape):
        width = input_shape[-1]
        if width is None:
            raise ValueError("the last dimension (features) of a ResidualBlock's input must be known")
        self.norm = keras.layers.LayerNormalization(name="norm") if self.layer_norm else None
        if self.norm is not None:
            self.norm.build(input_shape)
        self.dense_1 = keras.layers.Dense(self.hidden_units, activation=self.activation, name="dense_1")
        self.dense_1.build(input_shape)
        self.dense_2 = keras.layers.Dense(width, name="dense_2")
        self.dense_2.build((*input_shape[:-1], self.hidden_units))
        self.drop = keras.layers.Dropout(self.dropout)

    def branch(self, x, training=False):
        """The residual branch ``F(x)``, without the identity."""
        h = self.norm(x) if self.norm is not None else x
        return self.drop(self.dense_2(self.dense_1(h)), training=training)

    def call(self, inputs, training=False):
        return inputs + self.branch(inputs, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm": self.layer_norm,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package="dl4f")
class GLU(keras.layers.Layer):
    """Gated linear unit ``(x W + b) * sigmoid(x V + c)``: each output is a linear map times a gate in (0, 1)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int("units", units)

    def build(self, input_shape):
        self.linear = keras.layers.Dense(self.units, name="linear")
        self.linear.build(input_shape)
        self.gate = keras.layers.Dense(self.units, activation="sigmoid", name="gate")
        self.gate.build(input_shape)

    def call(self, inputs):
        return self.linear(inputs) * self.gate(inputs)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="dl4f")
class GRN(keras.layers.Layer):
    """Gated residual network of the Temporal Fusion Transformer (Lim et al., 2021).

    ``GRN(a, c) = LayerNorm(skip(a) + GLU(W_1 ELU(W_2 a + W_3 c + b_2) + b_1))``. ``skip`` is the identity
    when ``a`` already has ``units`` features, else a linear projection. Call it as ``grn(a)`` or
    ``grn(a, context=c)``; a layer built with a context must always receive one. When the gate closes
    (``sigmoid -> 0``) the block reduces to ``LayerNorm(skip(a))``: the network can switch a block off.
    """

    def __init__(self, units: int, hidden_units: int | None = None, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int("units", units)
        self.hidden_units = self.units if hidden_units is None else _positive_int("hidden_units", hidden_units)
        self.dropout = _rate(dropout)

    def build(self, inputs_shape, context_shape=None):
        input_shape = inputs_shape  # Keras passes the shape of each tensor argument of call() as <name>_shape
        width = input_shape[-1]
        if width is None:
            raise ValueError("the last dimension (features) of a GRN's input must be known")
        self.skip = None if width == self.units else keras.layers.Dense(self.units, name="skip")
        if self.skip is not None:
            self.skip.build(input_shape)
        self.dense_2 = keras.layers.Dense(self.hidden_units, name="dense_2")  # W_2 a + b_2
        self.dense_2.build(input_shape)
        self.context_dense = None
        if context_shape is not None:
            self.context_dense = keras.layers.Dense(self.hidden_units, use_bias=False, name="context")  # W_3 c
            self.context_dense.build(context_shape)
        self.dense_1 = keras.layers.Dense(self.units, name="dense_1")  # W_1 eta_2 + b_1
        self.dense_1.build((*input_shape[:-1], self.hidden_units))
        self.glu = GLU(self.units, name="glu")
        self.glu.build((*input_shape[:-1], self.units))
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.norm.build((*input_shape[:-1], self.units))
        self.drop = keras.layers.Dropout(self.dropout)

    def call(self, inputs, context=None, training=False):
        z = self.dense_2(inputs)
        if context is not None:
            if self.context_dense is None:
                raise ValueError("this GRN was built without a context: call it with the same arguments every time")
            if len(context.shape) < len(inputs.shape):  # a static context, one vector per sample: broadcast over time
                context = ops.expand_dims(context, axis=-2)
            z = z + self.context_dense(context)
        elif self.context_dense is not None:
            raise ValueError("this GRN was built with a context: pass context=... on every call")
        eta_1 = self.dense_1(ops.elu(z))
        residual = inputs if self.skip is None else self.skip(inputs)
        return self.norm(residual + self.glu(self.drop(eta_1, training=training)))

    def compute_output_shape(self, inputs_shape, context_shape=None):
        return (*inputs_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "hidden_units": self.hidden_units, "dropout": self.dropout}


# --------------------------------------------------------------------------- the networks the chapter compares


def plain_mlp(
    input_dim: int,
    width: int = 64,
    depth: int = 8,
    activation="relu",
    kernel_initializer="glorot_uniform",
    name: str = "plain_mlp",
):
    """``depth`` Dense(width, activation) layers, then a linear Dense(1): no skip.

    ``kernel_initializer="he_normal"`` draws weights of variance ``2 / fan_in``, which keeps the size of
    ReLU activations constant through depth; Keras's default, Glorot, halves their mean square per layer.
    """
    for arg, value in (("input_dim", input_dim), ("width", width), ("depth", depth)):
        _positive_int(arg, value)
    layers = [keras.Input((input_dim,))]
    layers += [
        keras.layers.Dense(width, activation=activation, kernel_initializer=kernel_initializer, name=f"dense_{k}")
        for k in range(1, depth + 1)
    ]
    return keras.Sequential(layers + [keras.layers.Dense(1, name="output")], name=name)


def residual_mlp(
    input_dim: int,
    width: int = 64,
    depth: int = 8,
    activation="relu",
    layer_norm: bool = True,
    dropout: float = 0.0,
    name: str = "residual_mlp",
):
    """A Dense(width) projection, ``depth // 2`` ResidualBlocks (two Dense layers each), then Dense(1).

    Counting the projection, it has ``1 + 2 * (depth // 2)`` hidden Dense layers, as many as
    ``plain_mlp(depth=1 + 2 * (depth // 2))``.
    """
    for arg, value in (("input_dim", input_dim), ("width", width)):
        _positive_int(arg, value)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2:
        raise ValueError(f"depth must be an integer >= 2 (two Dense layers per residual block), got {depth!r}")
    layers = [keras.Input((input_dim,)), keras.layers.Dense(width, name="projection")]
    layers += [
        ResidualBlock(width, activation=activation, layer_norm=layer_norm, dropout=dropout, name=f"block_{k}")
        for k in range(1, depth // 2 + 1)
    ]
    if layer_norm:  # pre-norm blocks leave the sum unnormalised: normalise once before the head
        layers.append(keras.layers.LayerNormalization(name="final_norm"))
    return keras.Sequential(layers + [keras.layers.Dense(1, name="output")], name=name)


def grn_mlp(input_dim: int, width: int = 64, n_blocks: int = 2, dropout: float = 0.0, name: str = "grn_mlp"):
    """``n_blocks`` GRNs (the first projects the input to ``width`` through its skip), then Dense(1)."""
    for arg, value in (("input_dim", input_dim), ("width", width), ("n_blocks", n_blocks)):
        _positive_int(arg, value)
    layers = [keras.Input((input_dim,))]
    layers += [GRN(width, dropout=dropout, name=f"grn_{k}") for k in range(1, n_blocks + 1)]
    return keras.Sequential(layers + [keras.layers.Dense(1, name="output")], name=name)
