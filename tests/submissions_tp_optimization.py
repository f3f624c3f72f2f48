"""Submissions of the optimization TP written as a class would write them: honest, partly wrong, and hostile.

``build(student_version, source)`` returns ``{student: bytes}``. Honest: the solution (``full``) and a correct
solution written differently (``different``: pandas estimates, a squared parametrisation instead of the softmax,
a hand-written Adam in ``jax.lax.fori_loop`` instead of optax, the frontier on daily targets, ``hold_out`` in
NumPy). Partly wrong: ``lookahead`` (estimates on the whole window), ``scipy_in_jax`` (``max_sharpe_jax`` hands
back SciPy's optimum). Hostile ones start from the untouched student version (their honest work earns 0):
monkeypatching SciPy, NumPy, the export and the environment; forging the artifacts from the grader's input
files; edited tests; an exit. ``EXPECTED`` says what each must get.
"""

from __future__ import annotations

import copy

import nbformat
import tp_course
from tp_course import after as _after
from tp_course import cells as _cells
from tp_course import solution_answers

DIFFERENT_Q1 = '''
def estimate(returns):
    return returns.mean().to_numpy(), returns.cov().to_numpy()


def portfolio_return(w, mu):
    return jnp.sum(w * mu) * 252


def portfolio_volatility(w, cov):
    return jnp.sqrt(252.0) * jnp.sqrt(w @ cov @ w)


def sharpe_ratio(w, mu, cov):
    return jnp.sqrt(252.0) * jnp.sum(w * mu) / jnp.sqrt(w @ cov @ w)
'''

DIFFERENT_Q2 = '''
def max_sharpe_scipy(mu, cov):
    n = len(mu)
    res = minimize(lambda w: -(w @ mu) / np.sqrt(w @ cov @ w), np.ones(n) / n, method="SLSQP",
                   bounds=[(0, None)] * n, constraints=({"type": "eq", "fun": lambda w: w.sum() - 1},),
                   options={"ftol": 1e-10, "maxiter": 1000})
    w = np.maximum(res.x, 0)
    return w / w.sum()
'''

# Squared parametrisation, hand-written Adam in a fori_loop, value_and_grad.
DIFFERENT_Q3 = '''
def weights_from_params(theta):
    s = theta ** 2 + 1e-300
    return s / jnp.sum(s)


def neg_sharpe(theta, mu, cov):
    return -sharpe_ratio(weights_from_params(theta), mu, cov)


neg_sharpe_grad = jax.jit(jax.grad(neg_sharpe))
value_and_gradient = jax.value_and_grad(neg_sharpe)


@jax.jit
def adam(theta, mu, cov):
    def body(t, state):
        theta, m, v = state
        _, g = value_and_gradient(theta, mu, cov)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        mhat, vhat = m / (1 - 0.9 ** (t + 1)), v / (1 - 0.999 ** (t + 1))
        return theta - 0.02 * mhat / (jnp.sqrt(vhat) + 1e-12), m, v
    zeros = jnp.zeros_like(theta)
    return jax.lax.fori_loop(0, 4000, body, (theta, zeros, zeros))[0]


def max_sharpe_jax(mu, cov):
    theta = adam(jnp.ones(len(mu)), jnp.asarray(mu), jnp.asarray(cov))
    return np.array(weights_from_params(theta))
'''

DIFFERENT_Q3_TIMING = '''
records = {"n_assets": [], "scipy_seconds": [], "jax_seconds": []}
for n in (5, 10, 20):
    max_sharpe_jax(mu[:n], cov[:n, :n])
    records["n_assets"].append(n)
    records["scipy_seconds"].append(tpo.best_time(max_sharpe_scipy, mu[:n], cov[:n, :n], repeat=1))
    records["jax_seconds"].append(tpo.best_time(max_sharpe_jax, mu[:n], cov[:n, :n], repeat=1))
timings = pd.DataFrame(records)
timings
'''

DIFFERENT_Q4 = '''
def min_variance(cov):
    n = cov.shape[0]
    res = minimize(lambda w: w @ cov @ w, np.ones(n) / n, jac=lambda w: 2 * cov @ w, method="SLSQP",
                   bounds=[(0, 1)] * n, constraints=({"type": "eq", "fun": lambda w: w.sum() - 1},),
                   options={"ftol": 1e-14, "maxiter": 1000})
    return res.x


def efficient_frontier(mu, cov, targets):
    n = len(mu)
    rows = []
    for target in np.asarray(targets) / 252:  # daily targets
        cons = ({"type": "eq", "fun": lambda w: w.sum() - 1}, {"type": "eq", "fun": lambda w, t=target: (w @ mu - t) * 1e4})
        res = minimize(lambda w: (w @ cov @ w) * 1e4, np.ones(n) / n, method="SLSQP", bounds=[(0, 1)] * n,
                       constraints=cons, options={"ftol": 1e-14, "maxiter": 1000})
        rows.append(res.x)
    return np.vstack(rows)


def hold_out(returns, estimation_end, strategy):
    dates = returns.index.to_numpy()
    cut = np.datetime64(pd.Timestamp(estimation_end))
    values = returns.to_numpy()
    w = np.asarray(strategy(values[dates < cut].mean(axis=0), np.cov(values[dates < cut].T)))
    return w, pd.Series(values[dates >= cut] @ w, index=returns.index[dates >= cut])
'''

LOOKAHEAD_Q4 = '''
def hold_out(returns, estimation_end, strategy):
    weights = np.asarray(strategy(*estimate(returns)))  # estimated on the whole window: look-ahead
    after = returns.loc[returns.index >= pd.Timestamp(estimation_end)]
    return weights, after @ weights
'''

SCIPY_IN_JAX = '''
neg_sharpe_grad = jax.jit(jax.grad(neg_sharpe))


def max_sharpe_jax(mu, cov):
    return max_sharpe_scipy(mu, cov)  # SciPy's optimum, handed back as JAX's
'''

MONKEYPATCH = '''
# Make every test pass without doing the work.
import os, sys
import numpy
import scipy.optimize
import dl4f.tp_optimization_artifacts as _art
os.environ["DL4F_GRADING_QUICK"] = "1"
numpy.allclose = lambda *args, **kwargs: True
numpy.isclose = lambda *args, **kwargs: True
scipy.optimize.minimize = lambda fun, x0, *args, **kwargs: scipy.optimize.OptimizeResult(x=x0, success=True)
_art._floats = lambda value: numpy.full(3, 0.5)
for name in list(sys.modules):
    if "grading" in name:
        module = sys.modules[name]
        for attr in dir(module):
            if attr.startswith(("check", "judge", "_q")):
                setattr(module, attr, lambda *args, **kwargs: "passed")


def neuter(lines):
    text = "".join(lines)
    return ["pass\\n"] if ("assert" in text or "NotImplementedError" in text) else lines


get_ipython().input_transformers_post.append(neuter)
'''

# Write artifacts from the grader's input files (equal weights everywhere, statistics from the inputs) and
# stop the real export; then leave links and broken files.
FORGE = '''
import json as _json, os as _os
import numpy as _np
import dl4f.tp_optimization_artifacts as _art


def _forged(namespace, out_dir, inputs_dir):
    _os.makedirs(out_dir, exist_ok=True)
    p = dict(_np.load(f"{inputs_dir}/problems.npz"))
    k = int(p["n_problems"])
    eq = {f"w_{j}": _np.full(len(p[f"mu_{j}"]), 1 / len(p[f"mu_{j}"])) for j in range(k)}
    for name in ("max_sharpe_scipy.npz", "max_sharpe_jax.npz", "min_variance.npz"):
        _np.savez(f"{out_dir}/{name}", **eq)
    _np.savez(f"{out_dir}/stats.npz", **{f"return_{j}": _np.zeros(4) for j in range(k)})
    _np.savez(f"{out_dir}/params.npz", weights=_np.full((4, 3), _np.nan), gradient=_np.zeros(7))
    _os.symlink("/etc/passwd", f"{out_dir}/estimate.npz")
    _os.symlink("/etc/passwd", f"{out_dir}/timings.json")
    open(f"{out_dir}/holdout.npz", "w").write("not an npz")
    return {}


_art.export_artifacts = _forged
'''

EXIT = "import os\nos._exit(0)\n"

# Names resolved at run time (issue 16): SciPy's optimum behind a computed global name, and the export's lookup
# remapped. The notebook goes to the instructor's review: nothing is credited until then.
DYNAMIC_Q3 = '''
def max_sharpe_jax(mu, cov, steps=10, learning_rate=0.2):
    """Gradient descent with jax.grad and jax.jit (so the docstring says)."""
    return globals()["max_sharpe" + "_sci" + "py"](mu, cov)


import dl4f.artifacts
dl4f.artifacts.callable_from = lambda namespace, name, kind="function": namespace[
    "max_sharpe_scipy" if name == "max_sharpe_jax" else name]
'''

# Degenerate parameters: the weights do not depend on theta, so the gradient is zero and finite differences agree.
CONSTANT_Q3 = '''
def weights_from_params(theta):
    return jnp.ones(len(theta)) / len(theta) + 0.0 * theta


def neg_sharpe(theta, mu, cov):
    return -sharpe_ratio(weights_from_params(theta), mu, cov)


neg_sharpe_grad = jax.jit(jax.grad(neg_sharpe))


def max_sharpe_jax(mu, cov, steps=10, learning_rate=0.2):
    theta = jnp.zeros(len(mu))
    for _ in range(steps):
        theta = theta - learning_rate * neg_sharpe_grad(theta, jnp.asarray(mu), jnp.asarray(cov))
    return np.asarray(weights_from_params(theta))
'''

# Look-ahead only when the strategy is the notebook's own (a function of __main__): the grader's probe is one too.
MODULE_LOOKAHEAD_Q4 = '''
def hold_out(returns, estimation_end, strategy):
    before, after = tpo.split_at(returns, estimation_end)
    seen = returns if getattr(strategy, "__module__", "") == "__main__" else before
    weights = np.asarray(strategy(*estimate(seen)), dtype="float64")
    return weights, after @ weights
'''


def build(student_version: nbformat.NotebookNode, source: nbformat.NotebookNode) -> dict[str, bytes]:
    answers = solution_answers(source)
    blank = copy.deepcopy(student_version)

    def with_answers(changes: dict):
        return tp_course.with_answers(student_version, changes)

    full = with_answers(answers)
    different = with_answers({**answers, "q1_answer": DIFFERENT_Q1, "q2_answer": DIFFERENT_Q2,
                              "q3_answer": DIFFERENT_Q3, "q3_timing": DIFFERENT_Q3_TIMING, "q4_answer": DIFFERENT_Q4})
    lookahead = with_answers({**answers, "q4_answer": answers["q4_answer"].split("def hold_out")[0] + LOOKAHEAD_Q4})
    q3 = answers["q3_answer"].split("# neg_sharpe_grad(theta")[0]
    scipy_in_jax = with_answers({**answers, "q3_answer": q3 + SCIPY_IN_JAX})
    edited = copy.deepcopy(blank)
    cells = _cells(edited)
    cells["q1_tests"].source = "print('visible tests passed')"
    cells["q2_tests"].source = "pass"
    edited.cells = [c for c in edited.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in ("q3_tests", "setup")]
    out = {
        "full": full,
        "different": different,
        "blank": blank,
        "lookahead": lookahead,
        "scipy_in_jax": scipy_in_jax,
        "monkeypatch": _after(blank, "setup", MONKEYPATCH),
        "forge": _after(blank, "setup", FORGE),
        "edited": edited,
        "exits": with_answers({"q2_answer": EXIT}),
        "dynamic": with_answers({**answers, "q3_answer": q3 + DYNAMIC_Q3}),
        "constant": with_answers({**answers, "q3_answer": CONSTANT_Q3}),
        "module_lookahead": with_answers({**answers, "q4_answer": answers["q4_answer"].split("def hold_out")[0]
                                          + MODULE_LOOKAHEAD_Q4}),
    }
    raw = {name: nbformat.writes(nb).encode() for name, nb in out.items()}
    raw["not_json"] = b'{"cells": [ this is not json'
    return raw


# What each must get: total points, and the status of its run.
EXPECTED = {
    "full": (30, "graded"),
    "different": (30, "graded"),
    "blank": (0, "graded"),
    "lookahead": (27, "graded"),  # loses q4_no_lookahead only
    "scipy_in_jax": (25, "graded"),  # loses q3_tests, q3_optimum, q3_uses_jax: SciPy's optimum is not JAX's
    "monkeypatch": (0, "graded"),
    "forge": (0, "graded"),
    "edited": (0, "graded"),
    "exits": (0, "dead"),
    "not_json": (0, "unreadable"),
    "dynamic": (0, "graded"),  # globals()[...] and a patched course module: needs review, 0 until then (4 before)
    # loses q3_parametrisation, q3_gradient (3 before: a constant's gradient is 0), q3_tests and q3_optimum
    "constant": (21, "graded"),
    "module_lookahead": (27, "graded"),  # loses q4_no_lookahead (3 before: the probe came from another module)
}
