"""Attacks on the grading boundary itself, written against tp-optimization (no training: quick to grade).

``build(student_version, source)`` returns ``{student: bytes}``; ``EXPECTED`` what each must get. The honest
submission is the solution; every attack gets what its honest work earns:

- ``forge_inputs``: a cell looks for the grader's problems in ``inputs/``, writes every artifact file itself into
  ``artifacts/`` (with an ``export.json``), then deletes its functions: the problems do not exist while the cells
  run, and the export writes into a folder the notebook never saw (blank work: 0);
- ``patch_export``: ``max_sharpe_jax`` left unanswered, and a last cell remaps ``dl4f.artifacts.callable_from`` so
  that the export would call ``max_sharpe_scipy`` in its place: the rules refuse the assignment to a course module
  (0, for the instructor to review), and the export, in a process of its own, never sees the patch (the engine's
  own test, ``test_grading_boundary``, shows it on a smaller notebook);
- ``late_death``: the solution, with the kernel killed (``os._exit``) after Question 3: Questions 1-3 graded from
  the state before the cell that died, Question 4 never ran (22, dead);
- ``detached``: blank work and a detached process (new session) that rewrites ``cells.json``, ``export.json``,
  ``executed.ipynb`` and artifacts over and over after the cells end: every process dies before a file is read,
  and none of these files is read anyway (0, with its cell errors);
- ``shadow``: blank work that prints ``/etc/shadow`` and its user mapping (0; nothing of it to read);
- ``crafted_pickle``: ``max_sharpe_jax`` left unanswered, and an object whose ``__reduce__`` would remap the
  export's ``callable_from`` (to ``max_sharpe_scipy``) when the export restores it, hidden in a default argument of
  ``weights_from_params``: the rules send any pickling hook to the instructor's review (0);
- ``numpy_gradient``: the solution with ``neg_sharpe_grad`` written as NumPy finite differences (right values, not
  JAX's gradient; the optimizer keeps its own ``jax.grad``): no JAX program the grader can run, so the gradient's
  points and "uses JAX" are lost (26).
"""

from __future__ import annotations

import nbformat
import tp_course
from tp_course import after as _after
from tp_course import solution_answers

FORGE_INPUTS = '''
import json as _json, os as _os
import numpy as _np
print("inputs present:", _os.path.exists("inputs"))
try:
    _p = dict(_np.load("inputs/problems.npz"))
    print("read the grader's problems", sorted(_p)[:3])
except Exception as exc:
    print("no problems to read:", type(exc).__name__)
    _p = {"n_problems": 3, **{f"mu_{j}": _np.full(5, 1e-3) for j in range(3)}}
_os.makedirs("artifacts", exist_ok=True)
_k = int(_p["n_problems"])
_eq = {f"w_{j}": _np.full(len(_p[f"mu_{j}"]), 1 / len(_p[f"mu_{j}"])) for j in range(_k)}
for _name in ("max_sharpe_scipy.npz", "max_sharpe_jax.npz", "min_variance.npz"):
    _np.savez(f"artifacts/{_name}", **_eq)
_np.savez("artifacts/estimate.npz", mu=_np.zeros(5), cov=_np.eye(5))
open("artifacts/export.json", "w").write(_json.dumps({"estimate": "saved"}))
for _name in ("estimate", "portfolio_return", "max_sharpe_scipy", "max_sharpe_jax"):
    globals().pop(_name, None)
'''

STUB_JAX = '''

def max_sharpe_jax(mu, cov, steps=3000, learning_rate=0.2):
    """Weights (n,) of maximum Sharpe ratio, found by gradient descent on theta with optax."""
    raise NotImplementedError()
'''

PATCH_EXPORT = '''
import dl4f.artifacts as _a
import dl4f.tp_optimization_artifacts as _t
_original = _a.callable_from


def _swap(namespace, name, kind="function"):
    return _original(namespace, "max_sharpe_scipy" if name == "max_sharpe_jax" else name, kind)


_a.callable_from = _t.callable_from = _swap
'''

DIE = "import os\nos._exit(1)\n"

CRAFTED_PICKLE = '''

class _Restorer:
    def __reduce__(self):
        code = ("import dl4f.artifacts as a, dl4f.tp_optimization_artifacts as t; o = a.callable_from; "
                "a.callable_from = t.callable_from = lambda ns, name, kind='function': "
                "o(ns, 'max_sharpe_scipy' if name == 'max_sharpe_jax' else name, kind)")
        return (exec, (code,))


def weights_from_params(theta, _restorer=_Restorer()):
    """Long-only weights summing to 1, from unconstrained parameters theta (n,)."""
    return jax.nn.softmax(theta)
'''

NUMPY_GRADIENT = '''

_jax_grad = jax.jit(jax.grad(neg_sharpe))  # the optimizer's gradient


def neg_sharpe_grad(theta, mu, cov):
    """Central finite differences in NumPy: the right values, not JAX's gradient."""
    theta, h = np.asarray(theta, dtype="float64"), 1e-6
    grad = np.zeros_like(theta)
    for i in range(len(theta)):
        step = np.zeros_like(theta)
        step[i] = h
        grad[i] = (float(neg_sharpe(theta + step, mu, cov)) - float(neg_sharpe(theta - step, mu, cov))) / (2 * h)
    return grad
'''


DETACHED = '''
import subprocess, sys
_code = """
import json, os, time
fake = json.dumps([{"index": k, "grade_id": None, "status": "ok"} for k in range(60)])
nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
for _ in range(20000):
    for name, text in (("cells.json", fake), ("export.json", json.dumps({"estimate": "saved"})),
                       ("executed.ipynb", json.dumps(nb)), ("artifacts/export.json", "{}")):
        try:
            os.makedirs("/submission/artifacts", exist_ok=True)
            open("/submission/" + name, "w").write(text)
        except OSError:
            pass
    time.sleep(0.05)
"""
subprocess.Popen([sys.executable, "-c", _code], start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("detached writer started")
'''

SHADOW = '''
import os
for _path in ("/etc/shadow", "/etc/gshadow", "/root/.bashrc"):
    try:
        print(_path, "READ", open(_path).read()[:300])
    except Exception as exc:
        print(_path, "blocked", type(exc).__name__)
print("etc", sorted(os.listdir("/etc")))
'''


def build(student_version: nbformat.NotebookNode, source: nbformat.NotebookNode) -> dict[str, bytes]:
    answers = solution_answers(source)
    full = tp_course.with_answers(student_version, answers)
    q3 = answers["q3_answer"].replace("def max_sharpe_jax(", "def _my_unfinished_max_sharpe_jax(") + STUB_JAX
    stub_jax = tp_course.with_answers(student_version, {**answers, "q3_answer": q3})
    pickled = answers["q3_answer"].replace("def weights_from_params(", "def _unused_weights_from_params(") + CRAFTED_PICKLE
    crafted = tp_course.with_answers(student_version, {**answers, "q3_answer": pickled.replace(
        "def max_sharpe_jax(", "def _my_unfinished_max_sharpe_jax(") + STUB_JAX})
    numpy_q3 = answers["q3_answer"].replace("neg_sharpe_grad = jax.jit(jax.grad(neg_sharpe))", NUMPY_GRADIENT)
    numpy_q3 = numpy_q3.replace("optimizer.update(neg_sharpe_grad(", "optimizer.update(_jax_grad(")
    assert numpy_q3.count("optimizer.update(_jax_grad(") == 1, "the solution's Question 3 changed: update NUMPY_GRADIENT"
    out = {
        "honest": full,
        "crafted_pickle": crafted,
        "numpy_gradient": tp_course.with_answers(student_version, {**answers, "q3_answer": numpy_q3}),
        "forge_inputs": _after(student_version, "setup", FORGE_INPUTS),
        "patch_export": _after(stub_jax, "q4_tests", PATCH_EXPORT),
        "late_death": _after(full, "q3_uses_jax", DIE),
        "detached": _after(student_version, "setup", DETACHED),
        "shadow": _after(student_version, "setup", SHADOW),
    }
    return {name: nbformat.writes(nb).encode() for name, nb in out.items()}


EXPECTED = {
    "honest": (30, "graded"),
    "forge_inputs": (0, "graded"),
    "patch_export": (0, "graded"),  # the rules refuse assignments to a course module (sent for review)
    "late_death": (22, "dead"),  # Question 4 (8 points) never ran; Questions 1-3 kept
    "detached": (0, "graded"),
    "shadow": (0, "graded"),
    "crafted_pickle": (0, "graded"),  # a pickling hook: sent for review
    "numpy_gradient": (26, "graded"),  # q3_gradient (3) and q3_uses_jax (1): no JAX program to run
}
