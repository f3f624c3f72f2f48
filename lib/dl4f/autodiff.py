"""Automatic differentiation, checked: finite differences, and a GARCH(1,1) likelihood differentiated by hand.

- ``finite_difference_gradient`` / ``finite_difference_jacobian``: central differences, the reference every
  gradient (hand-derived or automatic) is checked against; ``relative_error`` compares two of them.
- ``garch_variance`` / ``garch_nll``: the Gaussian GARCH(1,1) negative log-likelihood of a return series,
  written with ``jax.numpy`` (so ``jax.grad`` differentiates it); ``garch_nll_grad`` is its gradient derived by
  hand (a forward recursion on the derivatives of the variance), in NumPy.
- ``count_passes``: how many JVPs (forward mode) or VJPs (reverse mode) a full Jacobian of R^n -> R^m costs.

Differentiate in float64 when you compare with finite differences: wrap the calls in
``with jax.enable_x64(True):`` (float32 central differences are accurate to about 1e-3 only).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def _as_float_vector(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of parameters, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def finite_difference_jacobian(f: Callable, x, eps: float = 1e-6) -> np.ndarray:
    """Jacobian of ``f: R^n -> R^m`` at ``x`` by central differences, shape (m, n) ((n,) for scalar ``f``).

    Column j is ``(f(x + eps e_j) - f(x - eps e_j)) / (2 eps)``: 2n evaluations of ``f``, error O(eps^2)
    plus rounding of order (machine epsilon / eps). ``eps`` is scaled by ``max(1, |x_j|)``.
    """
    x = _as_float_vector(x)
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    columns = []
    for j in range(x.size):
        h = eps * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        columns.append((np.asarray(f(up), dtype=np.float64) - np.asarray(f(down), dtype=np.float64)) / (2 * h))
    return np.stack(columns, axis=-1)  # (n,) for a scalar f, (m, n) for f with m outputs


def finite_difference_gradient(f: Callable, x, eps: float = 1e-6) -> np.ndarray:
    """Gradient of a scalar function ``f`` at ``x`` by central differences, shape (n,)."""
    x = _as_float_vector(x)
    if np.ndim(f(x)) != 0:
        raise ValueError("f must return a scalar; use finite_difference_jacobian for a vector-valued f")
    return finite_difference_jacobian(f, x, eps)


def relative_error(a, b) -> float:
    """``max |a - b| / max(max |a|, max |b|, 1e-300)``: 1e-8 or less means two gradients agree in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-300)
    return float(np.abs(a - b).max(initial=0.0) / scale)


# --------------------------------------------------------------------------- GARCH(1,1)


def _check_returns(returns) -> None:
    shape = np.shape(returns)
    if len(shape) != 1 or shape[0] < 3:
        raise ValueError(f"returns must be a 1-D series of at least 3 values, got shape {shape}")
    if isinstance(returns, jax.core.Tracer):  # inside jax.jit: the values are not known yet
        return
    if not np.isfinite(np.asarray(returns)).all():
        raise ValueError("returns hold NaN or infinite values: drop them first (e.g. series.dropna())")


def garch_variance(params, returns):
    """Conditional variances of GARCH(1,1), ``s2_t = omega + alpha r_{t-1}^2 + beta s2_{t-1}``, in ``jax.numpy``.

    ``params = (omega, alpha, beta)``; ``returns`` as the model sees them: a zero-mean GARCH takes the raw
    returns (percent units suit it), as ``dl4f.baselines.fit_garch`` does; demean them first for a
    constant-mean model. ``s2_1`` is the sample variance of ``returns`` (a constant: it does not depend on the parameters).
    """
    _check_returns(returns)
    r = jnp.asarray(returns)
    omega, alpha, beta = params[0], params[1], params[2]

    def step(s2_prev, r_prev):
        s2 = omega + alpha * r_prev**2 + beta * s2_prev
        return s2, s2

    s2_1 = jnp.var(r)
    _, rest = jax.lax.scan(step, s2_1 * jnp.ones_like(omega), r[:-1])
    return jnp.concatenate([s2_1[None] * jnp.ones((1,), dtype=rest.dtype), rest])


def garch_nll(params, returns):
    """Gaussian negative log-likelihood of GARCH(1,1): ``0.5 * sum(log 2 pi + log s2_t + r_t^2 / s2_t)``."""
    r = jnp.asarray(returns)
    s2 = garch_variance(params, returns)
    return 0.5 * jnp.sum(jnp.log(2 * jnp.pi) + jnp.log(s2) + r**2 / s2)


def garch_nll_grad(params, returns) -> np.ndarray:
    """The gradient of ``garch_nll`` with respect to (omega, alpha, beta), derived by hand, in NumPy float64.

    With ``d_t = d s2_t / d(omega, alpha, beta)``:
    ``d_1 = 0``, ``d_t = (1, r_{t-1}^2, s2_{t-1}) + beta d_{t-1}``, and
    ``d nll / d theta = 0.5 * sum_t (1 / s2_t - r_t^2 / s2_t^2) d_t``.
    """
    _check_returns(returns)
    omega, alpha, beta = (float(p) for p in _as_float_vector(params, "params"))
    r = np.asarray(returns, dtype=np.float64)
    s2_prev, d_prev = r.var(), np.zeros(3)
    grad = 0.5 * (1 / s2_prev - r[0] ** 2 / s2_prev**2) * d_prev
    for t in range(1, r.size):
        s2 = omega + alpha * r[t - 1] ** 2 + beta * s2_prev
        d = np.array([1.0, r[t - 1] ** 2, s2_prev]) + beta * d_prev
        grad += 0.5 * (1 / s2 - r[t] ** 2 / s2**2) * d
        s2_prev, d_prev = s2, d
    return grad


# --------------------------------------------------------------------------- cost of the two modes


def count_passes(n_inputs: int, n_outputs: int) -> dict:
    """Passes through the program that a full Jacobian of ``f: R^n -> R^m`` costs in each mode.

    Forward mode pushes one tangent per input (n JVPs); reverse mode pulls one cotangent per output (m VJPs),
    after one forward pass that records the graph. A gradient (m = 1) costs one VJP whatever n.
    """
    for name, value in (("n_inputs", n_inputs), ("n_outputs", n_outputs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return {"forward (JVPs)": n_inputs, "reverse (VJPs)": n_outputs}
