"""Question 4 of the RNN TP, for students: is ``call`` a Python loop, and if so, train it with ``keras.ops.scan``.

A layer whose ``call`` loops over the 200 time steps in Python is unrolled by JAX into 200 copies of the step:
compiling it takes minutes and an epoch ~20 minutes. ``unrolls`` tells such a layer (its ``step`` runs once per
time step while the layer processes a sequence; under ``scan`` it runs once); ``ScanDriven`` runs the same
layer's ``step`` inside ``keras.ops.scan``; ``scan_if_unrolled`` swaps it in, same weights, same numbers.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np

from dl4f.layers import scan_steps


def make_layer(layer_cls, units: int):
    """An instance of the student's class with ``units`` units (``CustomLSTM(units)``)."""
    try:
        return layer_cls(units)
    except TypeError:
        return layer_cls(units=units)


def count_step_calls(layer, x) -> int:
    """How many times ``layer.step`` runs while the layer processes ``x`` once (eagerly)."""
    calls = []
    original = layer.step

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    layer.step = counting
    try:
        layer(x)
    finally:
        del layer.step
    return len(calls)


def unrolls(layer_or_cls, length: int = 50) -> bool:
    """True when the layer calls ``step`` once per time step (a Python loop, unrolled by JAX)."""
    layer = make_layer(layer_or_cls, 4) if inspect.isclass(layer_or_cls) else layer_or_cls
    x = np.zeros((2, length, 1), "float32")
    if not layer.built:
        layer.build(x.shape)
    return count_step_calls(layer, x) >= length // 2


@keras.saving.register_keras_serializable(package="dl4f")
class ScanDriven(keras.layers.Layer):
    """Runs ``layer.step`` over the time axis with ``keras.ops.scan``; returns the last hidden state."""

    def __init__(self, layer, units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.inner = layer
        self.units = int(units if units is not None else layer.units)

    def build(self, input_shape):
        if not self.inner.built:
            self.inner.build(input_shape)

    def call(self, inputs):
        h_last, _ = scan_steps(self.inner.step, inputs, self.units)
        return h_last

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)


def scan_if_unrolled(build):
    """A builder that returns ``build()``, with any layer whose ``call`` loops over the time steps in Python
    replaced by the same layer driven by ``keras.ops.scan`` (same weights, same numbers, compiled once)."""

    def builder():
        model = build()
        layers = list(model.layers)
        swapped = False
        for k, layer in enumerate(layers):
            if callable(getattr(layer, "step", None)) and hasattr(layer, "units") and unrolls(layer):
                print(f"{type(layer).__name__}.call loops over the time steps in Python: JAX would unroll it "
                      "(minutes of compilation); training it with keras.ops.scan over its step() instead.")
                layers[k] = ScanDriven(layer)
                swapped = True
        if not swapped:
            return model
        return keras.Sequential([keras.Input(tuple(model.inputs[0].shape[1:])), *layers], name=model.name)

    return builder
