"""Causal temporal convolutional networks (TCN, Bai, Kolter and Koltun, 2018) and their receptive field.

A causal convolution of kernel size ``k`` and dilation ``d`` computes ``y_t = b + sum_j w_j x_{t - d j}``,
``j = 0 .. k-1``: the output at ``t`` reads ``x_t`` and earlier inputs only (Keras's ``padding="causal"``
pads ``d (k - 1)`` zeros on the left). Stacking layers with dilations ``d_1, ..., d_L`` gives the
**receptive field** (the number of inputs that reach one output)::

    R = 1 + sum_l c (k - 1) d_l            (c convolutions per residual block)

``receptive_field`` is this formula; ``impulse_response`` and ``measured_receptive_field`` measure it on a
built network (perturb one input at a time, find the oldest one that moves the last output), which also
checks causality (no input moves an earlier output).
``causal_tcn`` builds the network: residual blocks of dilated causal convolutions, then a linear read-out
of the last time step.
"""

from __future__ import annotations

import keras
import numpy as np


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _dilations(dilations) -> list[int]:
    dilations = [_positive_int("each dilation", d) for d in dilations]
    if not dilations:
        raise ValueError("give at least one dilation (one per residual block), e.g. (1, 2, 4, 8)")
    return dilations


def receptive_field(kernel_size: int, dilations, convs_per_block: int = 1) -> int:
    """``1 + convs_per_block * (kernel_size - 1) * sum(dilations)``: inputs seen by one output of the stack."""
    kernel_size = _positive_int("kernel_size", kernel_size)
    convs_per_block = _positive_int("convs_per_block", convs_per_block)
    return 1 + convs_per_block * (kernel_size - 1) * sum(_dilations(dilations))


def dilations_for(window: int, kernel_size: int = 2, convs_per_block: int = 1) -> list[int]:
    """The shortest list 1, 2, 4, ... whose receptive field covers ``window`` inputs."""
    window = _positive_int("window", window)
    if _positive_int("kernel_size", kernel_size) < 2:
        raise ValueError("kernel_size must be at least 2 for the receptive field to grow with depth")
    dilations = [1]
    while receptive_field(kernel_size, dilations, convs_per_block) < window:
        dilations.append(2 * dilations[-1])
    return dilations


def causal_tcn(
    window: int = 200,
    filters: int = 16,
    kernel_size: int = 2,
    dilations=None,
    convs_per_block: int = 1,
    activation="relu",
    dropout: float = 0.0,
    n_features: int = 1,
    return_sequences: bool = False,
    name: str = "causal_tcn",
) -> keras.Model:
    """A causal TCN on inputs ``(window, n_features)``.

    Each residual block is ``x <- skip(x) + Dropout(conv_c(... conv_1(x)))`` with ``convs_per_block`` causal
    convolutions of dilation ``d`` (``skip`` is a 1x1 convolution where the number of channels changes,
    the identity elsewhere). ``dilations=None`` picks ``dilations_for(window, kernel_size)``, so that the
    last output sees the whole window. With ``return_sequences=True`` the model returns the features at
    every step ``(window, filters)``; otherwise a linear Dense(1) reads the last step: one forecast.
    """
    window = _positive_int("window", window)
    filters = _positive_int("filters", filters)
    kernel_size = _positive_int("kernel_size", kernel_size)
    convs_per_block = _positive_int("convs_per_block", convs_per_block)
    n_features = _positive_int("n_features", n_features)
    dilations = dilations_for(window, max(kernel_size, 2), convs_per_block) if dilations is None else _dilations(dilations)
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    inputs = keras.Input((window, n_features))
    x = inputs
    for b, d in enumerate(dilations, 1):
        h = x
        for c in range(1, convs_per_block + 1):
            h = keras.layers.Conv1D(
                filters, kernel_size, dilation_rate=d, padding="causal", activation=activation, name=f"block_{b}_conv_{c}"
            )(h)
        if dropout:
            h = keras.layers.Dropout(dropout, name=f"block_{b}_dropout")(h)
        skip = x if x.shape[-1] == filters else keras.layers.Conv1D(filters, 1, name=f"block_{b}_skip")(x)
        x = keras.layers.Add(name=f"block_{b}_add")([skip, h])
    if return_sequences:
        return keras.Model(inputs, x, name=name)
    last = keras.layers.Cropping1D((window - 1, 0), name="last_step")(x)  # keeps step T only: (batch, 1, filters)
    outputs = keras.layers.Dense(1, name="output")(keras.layers.Flatten(name="flatten")(last))
    return keras.Model(inputs, outputs, name=name)


def impulse_response(model: keras.Model, length: int, seed: int = 0, eps: float = 1.0) -> np.ndarray:
    """``influence[s, t]``: how much output ``t`` moves when input ``s`` moves by ``eps`` (max over channels).

    ``model`` maps ``(length, 1)`` to a sequence ``(length, channels)`` (e.g. ``causal_tcn(...,
    return_sequences=True)``). One batched forward pass: a random input, and ``length`` copies of it with one
    step perturbed each. A causal model has ``influence[s, t] == 0`` for every ``s > t``.
    """
    length = _positive_int("length", length)
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((length, 1)).astype("float32")
    batch = np.repeat(base[None], length + 1, axis=0)
    batch[np.arange(1, length + 1), np.arange(length), 0] += eps
    out = np.asarray(model.predict(batch, batch_size=length + 1, verbose=0))
    if out.ndim != 3 or out.shape[1] != length:
        raise ValueError(f"the model must return a sequence (batch, {length}, channels), got shape {out.shape}")
    return np.abs(out[1:] - out[:1]).max(axis=-1)


def measured_receptive_field(model: keras.Model, length: int, seed: int = 0, tol: float = 0.0) -> int:
    """The receptive field, measured: ``1 +`` how far back the oldest input that moves the last output lies.

    This is the span that ``receptive_field`` computes. A stack whose dilations leave gaps (a single layer
    of dilation 2 reads ``x_t, x_{t-2}, ...``) reaches fewer inputs than its span; the usual dilations
    ``1, 2, 4, ...`` leave none. ``length`` must exceed the field for the measure to be the field and not
    the window.
    """
    moved = np.flatnonzero(impulse_response(model, length, seed)[:, -1] > tol)
    if moved.size == 0:
        raise ValueError("no input moves the last output: is the model constant (all weights zero)?")
    return int(length - moved[0])
