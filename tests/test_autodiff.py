"""dl4f.autodiff: finite differences, the hand-derived GARCH(1,1) gradient, and the JAX gradients agree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dl4f import autodiff


def test_finite_difference_gradient_of_a_quadratic_is_exact_to_rounding():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    x = np.array([0.3, -1.2])
    f = lambda v: 0.5 * v @ A @ v  # noqa: E731
    grad = autodiff.finite_difference_gradient(f, x, eps=1e-6)
    assert grad.shape == (2,)
    # A central difference of a quadratic has no truncation error: only the rounding of the two values of f is
    # left, a few ulps of |f| (how many depends on the order in which the CPU's BLAS kernel sums the products),
    # divided by 2 eps. A @ x has an exact 0 component (2 * 0.3 - 0.5 * 1.2), so an absolute tolerance is needed:
    # 8 ulps of the scale of f (0.5 |x|'|A||x|) over 2 eps, about 9e-10 (seen: 5.6e-11). A forward difference
    # (error eps * A_ii / 2, about 1e-6) or a wrong step would still fail by orders of magnitude.
    scale = 0.5 * np.abs(x) @ np.abs(A) @ np.abs(x)
    atol = 8 * np.finfo(float).eps * scale / (2 * 1e-6)
    np.testing.assert_allclose(grad, A @ x, rtol=1e-8, atol=atol)
    forward = (np.array([f(x + 1e-6 * e) for e in np.eye(2)]) - f(x)) / 1e-6
    assert np.abs(forward - A @ x).max() > 100 * atol  # the tolerance tells a central difference from a forward one


def test_finite_difference_jacobian_has_shape_outputs_by_inputs():
    W = np.arange(6.0).reshape(3, 2)
    jac = autodiff.finite_difference_jacobian(lambda v: np.tanh(W @ v), np.array([0.1, -0.2]))
    expected = (1 - np.tanh(W @ np.array([0.1, -0.2])) ** 2)[:, None] * W
    assert jac.shape == (3, 2)
    np.testing.assert_allclose(jac, expected, rtol=1e-7)


def test_relative_error_and_input_checks():
    assert autodiff.relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert autodiff.relative_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 2.2)
    with pytest.raises(ValueError, match="shapes"):
        autodiff.relative_error([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="scalar"):
        autodiff.finite_difference_gradient(lambda v: v, np.ones(2))
    with pytest.raises(ValueError, match="1-D"):
        autodiff.finite_difference_gradient(lambda v: v.sum(), np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        autodiff.garch_nll_grad([0.1, 0.1, 0.8], np.array([0.1, np.nan, 0.2, 0.3]))


@pytest.fixture
def returns():
    """A synthetic GARCH(1,1) path (omega 0.05, alpha 0.1, beta 0.85), percent-like units."""
    rng = np.random.default_rng(0)
    r, s2 = np.empty(400), 1.0
    for t in range(r.size):
        r[t] = np.sqrt(s2) * rng.standard_normal()
        s2 = 0.05 + 0.1 * r[t] ** 2 + 0.85 * s2
    return r


def test_garch_variance_follows_the_recursion(returns):
    theta = np.array([0.05, 0.1, 0.85])
    with jax.enable_x64(True):
        s2 = np.asarray(autodiff.garch_variance(jnp.asarray(theta), returns))
    assert s2[0] == pytest.approx(returns.var())
    assert s2[5] == pytest.approx(0.05 + 0.1 * returns[4] ** 2 + 0.85 * s2[4])
    assert (s2 > 0).all()


def test_hand_gradient_matches_jax_grad_and_finite_differences(returns):
    theta = np.array([0.04, 0.12, 0.8])
    by_hand = autodiff.garch_nll_grad(theta, returns)
    with jax.enable_x64(True):
        by_jax = np.asarray(jax.jit(jax.grad(autodiff.garch_nll))(jnp.asarray(theta), returns))
        nll = jax.jit(autodiff.garch_nll)
        by_fd = autodiff.finite_difference_gradient(lambda th: float(nll(jnp.asarray(th), returns)), theta)
    assert np.abs(by_hand).max() > 1.0  # away from the optimum: the check is not 0 == 0
    assert autodiff.relative_error(by_hand, by_jax) < 1e-10
    assert autodiff.relative_error(by_hand, by_fd) < 1e-6


def test_a_small_step_against_the_hand_gradient_lowers_the_likelihood_loss(returns):
    theta = np.array([0.04, 0.12, 0.8])
    grad = autodiff.garch_nll_grad(theta, returns)
    with jax.enable_x64(True):
        before = float(autodiff.garch_nll(jnp.asarray(theta), returns))
        after = float(autodiff.garch_nll(jnp.asarray(theta - 1e-5 * grad), returns))
    assert after < before - 0.5e-5 * grad @ grad  # the first-order decrease eta * |g|^2, at least half of it


def test_count_passes():
    assert autodiff.count_passes(1000, 1) == {"forward (JVPs)": 1000, "reverse (VJPs)": 1}
    with pytest.raises(ValueError, match="positive integer"):
        autodiff.count_passes(0, 1)
