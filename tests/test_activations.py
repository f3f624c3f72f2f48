"""dl4f.activations: derivatives, gradient norms through a deep stack, dead ReLU units."""

import numpy as np
import pytest

import dl4f  # noqa: F401  (sets the Keras backend before keras is imported)
from dl4f import activations


def test_derivatives_match_their_closed_forms():
    z = np.linspace(-4, 4, 9)
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(activations.derivative("sigmoid", z), s * (1 - s), rtol=1e-5)
    np.testing.assert_allclose(activations.derivative("tanh", z), 1 - np.tanh(z) ** 2, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(activations.derivative("relu", z[z != 0]), (z[z != 0] > 0).astype(float))
    np.testing.assert_allclose(activations.derivative("softplus", z), s, rtol=1e-5)
    assert activations.derivative("gelu", np.array([0.0]))[0] == pytest.approx(0.5)


def test_sigmoid_derivative_never_exceeds_a_quarter():
    z = np.linspace(-10, 10, 2001)
    assert activations.derivative("sigmoid", z).max() == pytest.approx(0.25, abs=1e-6)


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="choose among"):
        activations.derivative("swish2", [0.0])


def test_sigmoid_gradient_vanishes_through_depth_and_tanh_does_not():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(128, 10)), rng.normal(size=128)
    params = activations.init_stack(10, 32, 12, init="glorot", seed=0)
    sig = activations.layer_gradient_norms("sigmoid", X, y, params)
    tanh = activations.layer_gradient_norms("tanh", X, y, params)
    assert sig.shape == (12,)
    # each sigmoid layer multiplies the gradient by at most 1/4 times a Glorot matrix: 11 layers lose > 1e-4
    assert sig[0] / sig[-1] < 1e-4
    assert tanh[0] / tanh[-1] > 1e-2


def test_layer_gradient_norms_checks_shapes():
    params = activations.init_stack(5, 4, 2)
    with pytest.raises(ValueError, match="features"):
        activations.layer_gradient_norms("relu", np.zeros((3, 6)), np.zeros(3), params)
    with pytest.raises(ValueError, match="init"):
        activations.init_stack(5, 4, 2, init="zeros")


def test_dead_unit_fraction_counts_units_silent_on_every_input():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    W = np.zeros((3, 4), dtype="float32")
    W[:, :2] = 1.0                                    # units 0, 1 alive on positive inputs
    b = np.array([0.0, 0.0, -1.0, -5.0], dtype="float32")  # units 2, 3: always negative
    model.layers[0].set_weights([W, b])
    X = np.abs(np.random.default_rng(0).normal(size=(50, 3))).astype("float32")
    assert activations.dead_unit_fraction(model, X) == [0.5]
    linear = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="ReLU"):
        activations.dead_unit_fraction(linear, X)
