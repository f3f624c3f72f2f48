"""Attention written with ``keras.ops``: the chapter "Attention Mechanisms: Learning What to Focus On".

Scaled dot-product attention of queries ``Q`` (Lq, d_k), keys ``K`` (Lk, d_k) and values ``V`` (Lk, d_v)::

    A = softmax(Q K^T / sqrt(d_k) + M)        (Lq, Lk), each row sums to 1
    Attention(Q, K, V) = A V                  (Lq, d_v)

where the mask ``M`` is 0 where a query may look and -inf where it may not. Masks are given here as
booleans, ``True`` = may attend (Keras' convention); ``causal_mask(L)`` lets position t see 0..t only.

``MultiHeadAttention`` projects the inputs into ``h`` heads, attends in each, and projects the
concatenated heads back. Its weights have the names, shapes and order of ``keras.layers.MultiHeadAttention``
(query, key, value kernels (d_model, h, d_k) and biases (h, d_k); output kernel (h, d_v, d_model) and
bias), so ``ours.set_weights(keras_layer.get_weights())`` makes the two compute the same function.
``AttentionForecaster`` is the small causal self-attention model that the chapter trains on S&P 500 windows.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

# Added to the scores of forbidden positions: exp(-1e9) is 0 in float32, and unlike -inf it never gives NaN
# when a whole row is masked.
MASK_VALUE = -1e9


def causal_mask(length: int, key_length: int | None = None) -> np.ndarray:
    """Boolean (length, key_length) mask, True where query t may attend to key s, i.e. s <= t.

    With ``key_length > length`` the queries are the last ``length`` positions of the keys' sequence
    (as in Keras' ``use_causal_mask``).
    """
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}")
    key_length = length if key_length is None else key_length
    if isinstance(key_length, bool) or not isinstance(key_length, (int, np.integer)) or key_length < length:
        raise ValueError(f"key_length must be an integer >= length ({length}), got {key_length!r}")
    return np.tril(np.ones((length, key_length), dtype=bool), k=key_length - length)


def scaled_dot_product_attention(query, key, value, mask=None):
    """``softmax(Q K^T / sqrt(d_k) + M) V`` over the last two axes; returns ``(output, weights)``.

    ``query`` (..., Lq, d_k), ``key`` (..., Lk, d_k), ``value`` (..., Lk, d_v); ``mask`` boolean, broadcastable
    to (..., Lq, Lk), True where attention is allowed. ``weights`` (..., Lq, Lk) has rows that sum to 1.
    """
    d_k = query.shape[-1]
    if key.shape[-1] != d_k:
        raise ValueError(f"query and key must have the same last dimension d_k, got {query.shape} and {key.shape}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"key and value must have the same length, got {key.shape} and {value.shape}")
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) / math.sqrt(d_k)
    if mask is not None:
        scores = ops.where(ops.cast(mask, "bool"), scores, ops.cast(MASK_VALUE, scores.dtype))
    weights = ops.softmax(scores, axis=-1)
    return ops.matmul(weights, value), weights


@keras.saving.register_keras_serializable(package="dl4f")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention from its equations; same weights and outputs as ``keras.layers.MultiHeadAttention``.

    For each head ``i``: ``head_i = Attention(Q W_i^Q + b_i^Q, K W_i^K + b_i^K, V W_i^V + b_i^V)``; the output is
    ``sum_i head_i W_i^O + b^O`` (the concatenation of the heads times one matrix, written per head).
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None, use_bias: bool = True,
                 output_dim: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.use_bias = use_bias
        self.output_dim = output_dim

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        h, dk, dv = self.num_heads, self.key_dim, self.value_dim
        out = self.output_dim or query_shape[-1]

        def dense(name, d_in, shape, bias_shape):  # created in Keras' order: kernel then bias, per projection
            kernel = self.add_weight(name=f"{name}_kernel", shape=(d_in, *shape), initializer="glorot_uniform")
            bias = self.add_weight(name=f"{name}_bias", shape=bias_shape, initializer="zeros") if self.use_bias else None
            return kernel, bias

        self.wq, self.bq = dense("query", query_shape[-1], (h, dk), (h, dk))
        self.wk, self.bk = dense("key", key_shape[-1], (h, dk), (h, dk))
        self.wv, self.bv = dense("value", value_shape[-1], (h, dv), (h, dv))
        self.wo = self.add_weight(name="output_kernel", shape=(h, dv, out), initializer="glorot_uniform")
        self.bo = self.add_weight(name="output_bias", shape=(out,), initializer="zeros") if self.use_bias else None

    def _project(self, x, kernel, bias):
        y = ops.einsum("bld,dhk->bhlk", x, kernel)  # (batch, heads, length, dim)
        if bias is not None:
            y = y + ops.expand_dims(ops.expand_dims(bias, 0), 2)
        return y

    def call(self, query, value, key=None, attention_mask=None, use_causal_mask=False, return_attention_scores=False):
        key = value if key is None else key
        q = self._project(query, self.wq, self.bq)
        k = self._project(key, self.wk, self.bk)
        v = self._project(value, self.wv, self.bv)
        mask = None
        if attention_mask is not None:
            mask = ops.expand_dims(ops.cast(attention_mask, "bool"), 1)  # (batch, 1, Lq, Lk): same for every head
        if use_causal_mask:
            causal = ops.convert_to_tensor(causal_mask(query.shape[1], key.shape[1]))
            mask = causal if mask is None else ops.logical_and(mask, causal)
        heads, weights = scaled_dot_product_attention(q, k, v, mask)  # (batch, h, Lq, dv), (batch, h, Lq, Lk)
        output = ops.einsum("bhlv,hvo->blo", heads, self.wo)
        if self.bo is not None:
            output = output + self.bo
        return (output, weights) if return_attention_scores else output

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        return (*query_shape[:-1], self.output_dim or query_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, key_dim=self.key_dim, value_dim=self.value_dim,
                      use_bias=self.use_bias, output_dim=self.output_dim)
        return config


@keras.saving.register_keras_serializable(package="dl4f")
class PositionalEncoding(keras.layers.Layer):
    """Adds the sinusoidal encoding of Vaswani et al. (2017): ``PE[t, 2i] = sin(t / 10000^(2i/d))``, cos for 2i+1."""

    def build(self, input_shape):
        length, d = input_shape[-2], input_shape[-1]
        position = np.arange(length)[:, None]
        rate = 1.0 / 10000 ** (2 * (np.arange(d) // 2) / d)
        angles = position * rate[None, :]
        self.encoding = np.where(np.arange(d) % 2 == 0, np.sin(angles), np.cos(angles)).astype("float32")

    def call(self, x):
        return x + ops.convert_to_tensor(self.encoding, dtype=x.dtype)


def attention_forecaster(length: int, d_model: int = 16, num_heads: int = 2, name: str = "attention_forecaster"):
    """Causal self-attention on a window of ``length`` values -> forecast of the next value.

    Input (batch, length) -> Dense(d_model) per day + positional encoding -> causal MultiHeadAttention with a
    residual connection -> the last day's vector -> Dense(1). The attention layer is named ``"attention"``,
    and the positional encoding ``"positions"``, so ``attention_weights(model, X)`` can read the weights.
    """
    inputs = keras.Input((length,), name="window")
    x = keras.layers.Reshape((length, 1))(inputs)
    x = keras.layers.Dense(d_model, name="day_embedding")(x)
    x = PositionalEncoding(name="positions")(x)
    attended = MultiHeadAttention(num_heads, key_dim=d_model // num_heads, name="attention")(
        x, x, use_causal_mask=True
    )
    x = keras.layers.LayerNormalization()(x + attended)
    last = keras.layers.Flatten()(keras.layers.Cropping1D((length - 1, 0), name="last_day")(x))
    hidden = keras.layers.Dense(d_model, activation="relu")(last)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden), name=name)


def attention_weights(model, X) -> np.ndarray:
    """The attention weights (n, heads, length, length) of the layer named ``"attention"`` of ``model`` on ``X``."""
    layer = model.get_layer("attention")
    embed = keras.Model(model.input, model.get_layer("positions").output)  # what the attention layer reads
    x = embed(np.asarray(X, dtype="float32"))
    _, weights = layer(x, x, use_causal_mask=True, return_attention_scores=True)
    return np.asarray(weights)
