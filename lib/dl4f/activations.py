"""Activation functions, measured: their derivatives, the gradient through a deep stack, dead ReLU units.

- ``ACTIVATIONS``: the five functions of the chapter as JAX functions (sigmoid, tanh, ReLU, GELU, softplus).
- ``derivative``: ``sigma'(z)`` by automatic differentiation, element-wise.
- ``init_stack`` and ``layer_gradient_norms``: a ``depth``-layer MLP with one activation, and the norm of the
  loss gradient with respect to each layer's weights on a batch (how much signal reaches each layer).
- ``dead_unit_fraction``: for a trained Keras MLP, the share of ReLU units that output 0 on every input.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": partial(jax.nn.gelu, approximate=False),  # z * Phi(z), Phi the standard normal CDF
    "softplus": jax.nn.softplus,
}


def _activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose among {list(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def derivative(name: str, z) -> np.ndarray:
    """``sigma'(z)`` for each value of ``z``, by automatic differentiation (``jax.vmap(jax.grad(sigma))``)."""
    f = _activation(name)
    z = jnp.asarray(z, dtype=jnp.float32)
    return np.asarray(jax.vmap(jax.grad(f))(z.reshape(-1))).reshape(z.shape)


def init_stack(n_in: int, width: int, depth: int, *, init: str = "glorot", seed: int = 0) -> list:
    """Weights ``[(W_1, b_1), ..., (W_depth, b_depth), (w_out, b_out)]`` of an MLP, biases at 0.

    ``init="glorot"`` draws ``W`` uniform with variance ``2 / (fan_in + fan_out)`` (Keras's default);
    ``init="he"`` normal with variance ``2 / fan_in`` (made for ReLU). The last pair is a linear head to 1 output.
    """
    for name, value in (("n_in", n_in), ("width", width), ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if init not in ("glorot", "he"):
        raise ValueError(f"init must be 'glorot' or 'he', got {init!r}")
    rng = np.random.default_rng(seed)
    sizes = [n_in] + [width] * depth + [1]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        if init == "glorot":
            limit = np.sqrt(6 / (fan_in + fan_out))
            W = rng.uniform(-limit, limit, (fan_in, fan_out))
        else:
            W = rng.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))
        params.append((jnp.asarray(W, jnp.float32), jnp.zeros(fan_out, jnp.float32)))
    return params


def _mse(params, x, y, f):
    a = x
    for W, b in params[:-1]:
        a = f(a @ W + b)
    W, b = params[-1]
    return jnp.mean(((a @ W + b)[:, 0] - y) ** 2)


# compiled once per activation and shape: an eager pass over a deep stack dispatches hundreds of small ops
_mse_grad = jax.jit(jax.grad(_mse), static_argnums=3)


def layer_gradient_norms(name: str, X, y, params: list) -> np.ndarray:
    """Frobenius norm of ``dL/dW_l`` for each hidden layer ``l = 1..depth`` (MSE loss of the stack on ``X, y``).

    A norm that falls by orders of magnitude from the last layer to the first is a vanishing gradient:
    the first layers barely learn.
    """
    f = _activation(name)
    X = jnp.asarray(X, jnp.float32)
    y = jnp.asarray(y, jnp.float32).reshape(-1)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X must be (samples, features) with one target per sample, got {X.shape} and {y.shape}")
    if X.shape[1] != params[0][0].shape[0]:
        raise ValueError(f"X has {X.shape[1]} features but the first layer expects {params[0][0].shape[0]}")
    grads = _mse_grad(params, X, y, f)
    return np.array([float(jnp.linalg.norm(gW)) for gW, _ in grads[:-1]])


def dead_unit_fraction(model, X) -> list[float]:
    """For each ReLU ``Dense`` layer of a Keras ``Sequential``, the share of units equal to 0 on every row of ``X``.

    A dead unit has a negative pre-activation on all inputs: its gradient is 0 everywhere, so it never
    recovers. Layers with another activation are skipped.
    """
    import keras

    a = np.asarray(X, dtype=np.float32)
    fractions = []
    for layer in model.layers:
        a = np.asarray(layer(a))
        if isinstance(layer, keras.layers.Dense) and getattr(layer.activation, "__name__", "") == "relu":
            fractions.append(float(np.mean(np.all(a <= 0, axis=0))))
    if not fractions:
        raise ValueError("the model has no Dense layer with a ReLU activation")
    return fractions
