"""The optimization TP: its trusted checks on hand-made artifacts, then a class graded by ``dl4f tp grade``'s engine
(honest, partly wrong and hostile submissions, sandboxed, in one ``grade_class`` call with 2 workers), and the
site pages of the TP.

The problems are real: windows of daily returns of the 20 S&P 500 stocks of the course's cache (skfolio's
dataset, cached by ``dl4f.data.import_stocks``), drawn from a seed as at grading.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import submissions_tp_optimization as corpus
import tp_course

from dl4f_grading import engine, sandbox
from dl4f_grading import tp_optimization as grader

ROOT = Path(__file__).resolve().parents[1]
TP = "tp-optimization"
SEED = 3


@pytest.fixture(scope="module")
def secrets(stocks):
    return grader.regenerate_secrets(SEED)


def _honest_artifacts(folder: Path, secrets: dict) -> Path:
    """The artifacts a correct notebook leaves, computed here with the grader's own solutions."""
    folder.mkdir(parents=True, exist_ok=True)
    problems, task = secrets["problems"], secrets["holdout"]
    values = task["returns"].to_numpy()
    np.savez(folder / "estimate.npz", mu=values.mean(0), cov=np.cov(values.T))
    stats = {}
    for k, p in enumerate(problems):
        ret = np.array([252 * w @ p["mu"] for w in p["w_probe"]])
        vol = np.array([np.sqrt(252 * w @ p["cov"] @ w) for w in p["w_probe"]])
        stats.update({f"return_{k}": ret, f"volatility_{k}": vol, f"sharpe_{k}": ret / vol})
    np.savez(folder / "stats.npz", **stats)
    best = {f"w_{k}": grader.reference_max_sharpe(p["mu"], p["cov"]) for k, p in enumerate(problems)}
    np.savez(folder / "max_sharpe_scipy.npz", **best)
    np.savez(folder / "max_sharpe_jax.npz", **best)
    np.savez(folder / "min_variance.npz", **{f"w_{k}": grader.reference_min_variance(p["cov"])
                                             for k, p in enumerate(problems)})
    return folder


def test_a_correct_answer_passes_and_each_mistake_fails_with_its_reason(tmp_path, secrets):
    folder = _honest_artifacts(tmp_path / "a", secrets)
    cells = ["q1_estimate", "q1_statistics", "q2_constraints", "q2_optimum", "q4_min_variance"]
    verdicts = grader.judge(folder, "", SEED, False, cells)
    assert all(v["passed"] for v in verdicts.values()), verdicts

    # the covariance divided by T
    task = secrets["holdout"]["returns"].to_numpy()
    np.savez(folder / "estimate.npz", mu=task.mean(0), cov=np.cov(task.T, ddof=0))
    # daily instead of annualised statistics
    p = secrets["problems"][1]
    stats = dict(np.load(folder / "stats.npz"))
    stats["return_1"] = stats["return_1"] / 252
    np.savez(folder / "stats.npz", **stats)
    # equal weights (where SLSQP starts) are feasible but not optimal; a short position is not feasible
    n = len(p["mu"])
    np.savez(folder / "max_sharpe_scipy.npz", w_0=np.full(20, 1 / 20), w_1=np.full(n, 1 / n),
             w_2=np.full(len(secrets["problems"][2]["mu"]), 1 / len(secrets["problems"][2]["mu"])))
    short = grader.reference_min_variance(p["cov"]) * 1.2 - 0.2 / n
    np.savez(folder / "min_variance.npz", w_1=short, w_2=grader.reference_min_variance(secrets["problems"][2]["cov"]))
    verdicts = grader.judge(folder, "", SEED, False, cells)
    assert "T, not T - 1" in verdicts["q1_estimate"]["message"]
    assert not verdicts["q1_statistics"]["passed"] and "portfolio_return" in verdicts["q1_statistics"]["message"]
    assert not verdicts["q2_constraints"]["passed"] and "no better than equal" in verdicts["q2_constraints"]["message"]
    assert not verdicts["q2_optimum"]["passed"] and "relative gap" in verdicts["q2_optimum"]["message"]
    assert not verdicts["q4_min_variance"]["passed"] and "negative" in verdicts["q4_min_variance"]["message"]
    # on the grader's problems, the feedback says how far from the optimum, never the optimum's value
    secret = [grader.sharpe(grader.reference_max_sharpe(q["mu"], q["cov"]), q["mu"], q["cov"])
              for q in secrets["problems"][1:]]
    for message in (verdicts["q2_optimum"]["message"], verdicts["q2_constraints"]["message"]):
        assert not any(f"{v:.4f}"[:-1] in message for v in secret), message
    np.savez(folder / "max_sharpe_scipy.npz", **{f"w_{k}": grader.reference_max_sharpe(q["mu"], q["cov"])
                                                 for k, q in enumerate(secrets["problems"])})
    passed = grader.judge(folder, "", SEED, False, ["q2_optimum"])["q2_optimum"]
    assert passed["passed"] and "relative gap" in passed["message"], passed
    assert not any(f"{v:.4f}"[:-1] in passed["message"] for v in secret), passed["message"]


def _params_artifacts(folder: Path, secrets: dict, to_weights, export_error: str | None = None) -> Path:
    """params.npz of a notebook whose weights_from_params is ``to_weights`` (neg_sharpe and its gradient exact)."""
    folder.mkdir(parents=True, exist_ok=True)
    p, h = secrets["problems"][1], grader.FD_STEP
    thetas, n = p["theta_probe"], len(p["mu"])
    W = np.stack([to_weights(t) for t in thetas])

    def objective(t):
        return -grader.sharpe(to_weights(t), p["mu"], p["cov"])
    grads = np.stack([[(objective(t + h * e) - objective(t - h * e)) / (2 * h) for e in np.eye(n)] for t in thetas])
    errors = {"program_neg_sharpe_grad_error": np.array(export_error)} if export_error else {}
    np.savez(folder / "params.npz", weights=W, objective=np.array([objective(t) for t in thetas]), gradient=grads,
             weights_plus=np.stack([[to_weights(t + h * e) for e in np.eye(n)] for t in thetas]),
             weights_minus=np.stack([[to_weights(t - h * e) for e in np.eye(n)] for t in thetas]), **errors)
    return folder


def _verified(folder: Path, to_weights, gradient=None) -> str:
    """What the grader's verifier leaves (``dl4f.verify_programs``) for JAX programs of ``neg_sharpe`` (with the
    JAX weights ``to_weights``) and of its gradient (``jax.grad`` of it, or ``gradient``), saved as the export does."""
    import jax
    import jax.numpy as jnp

    from dl4f import tp_optimization_artifacts as export
    from dl4f import verify_programs

    grader.inputs(SEED, folder / "inputs")

    def neg_sharpe(theta, mu, cov):
        w = to_weights(theta)
        return -252.0 * (w @ mu) / jnp.sqrt(252.0 * (w @ cov @ w))

    probe = export.program_probes(folder / "inputs")["neg_sharpe"][0]
    for name, fn in (("neg_sharpe", neg_sharpe), ("neg_sharpe_grad", gradient or jax.grad(neg_sharpe))):
        try:
            verify_programs.save_program(fn, probe, folder / "programs" / f"{name}.jaxexport")
        except NotImplementedError:  # a callback into Python: JAX cannot serialize it
            pass
    verify_programs.verify(folder, "dl4f.tp_optimization_artifacts")
    return str(folder / "verified")


def test_a_gradient_is_credited_only_for_weights_that_depend_on_theta_and_from_its_jax_program(tmp_path, secrets):
    import jax
    import jax.numpy as jnp

    def softmax(t):
        return np.exp(t - t.max()) / np.exp(t - t.max()).sum()

    def constant(t):
        return np.full(len(t), 1 / len(t))

    cells = ["q3_parametrisation", "q3_gradient", "q3_uses_jax"]
    honest = grader.judge(_params_artifacts(tmp_path / "a", secrets, softmax), "", SEED, False, cells,
                          verified=_verified(tmp_path / "a", jax.nn.softmax))
    assert all(v["passed"] for v in honest.values()), honest
    assert "computed by its JAX program" in honest["q3_gradient"]["message"]
    flat = grader.judge(_params_artifacts(tmp_path / "b", secrets, constant), "", SEED, False, cells,
                        verified=_verified(tmp_path / "b", lambda t: jnp.full(t.shape, 1 / t.shape[0]) + 0 * t))
    assert "do not depend on theta" in flat["q3_gradient"]["message"] and flat["q3_uses_jax"]["passed"]

    def by_callback(theta, mu, cov):  # SciPy's gradient hidden in a callback into Python
        return jax.pure_callback(lambda t: np.asarray(t) * 0, jax.ShapeDtypeStruct(theta.shape, theta.dtype), theta)

    error = "NotImplementedError: serialization of host_callbacks is not yet implemented"
    callback = grader.judge(_params_artifacts(tmp_path / "c", secrets, softmax, error), "", SEED, False, cells,
                            verified=_verified(tmp_path / "c", jax.nn.softmax, by_callback))
    assert "JAX could not compile it (NotImplementedError: serialization of host_callbacks" in \
        callback["q3_gradient"]["message"]
    assert "must be a JAX function" in callback["q3_uses_jax"]["message"] and callback["q3_parametrisation"]["passed"]

    def traced_twin(theta, mu, cov):  # right when called, zero when the grader compiles it
        return jnp.zeros_like(theta)

    twin = grader.judge(_params_artifacts(tmp_path / "d", secrets, softmax), "", SEED, False, cells,
                        verified=_verified(tmp_path / "d", jax.nn.softmax, traced_twin))
    assert "returns other values when called than its JAX program computes" in twin["q3_gradient"]["message"]
    missing = grader.judge(_params_artifacts(tmp_path / "e", secrets, softmax), "", SEED, False, cells)
    assert "its JAX program was not run by the grader" in missing["q3_gradient"]["message"]


def test_the_grader_optimum_is_the_optimum(secrets):
    p = secrets["problems"][1]
    mu, cov = p["mu"], p["cov"]
    w = grader.reference_max_sharpe(mu, cov)
    grader.check_weights(w, "reference")
    rng = np.random.default_rng(0)
    random_best = max(grader.sharpe(x, mu, cov) for x in rng.dirichlet(np.ones(len(mu)) * 0.3, size=5000))
    assert grader.sharpe(w, mu, cov) >= random_best - 1e-12
    v = grader.reference_min_variance(cov)
    assert all(v @ cov @ v <= x @ cov @ x + 1e-15 for x in rng.dirichlet(np.ones(len(mu)), size=2000))


def test_forged_links_and_bad_arrays_are_refused(tmp_path, secrets):
    folder = tmp_path / "forged"
    folder.mkdir()
    (folder / "estimate.npz").symlink_to("/etc/passwd")
    np.savez(folder / "max_sharpe_scipy.npz", w_1=np.array(["x"]), w_2=np.full(3, np.nan))
    (folder / "holdout.npz").write_text("not an npz")
    verdicts = grader.judge(folder, "", SEED, False, ["q1_estimate", "q2_optimum", "q4_no_lookahead", "q9"])
    assert "regular file" in verdicts["q1_estimate"]["message"]
    assert "not numbers" in verdicts["q2_optimum"]["message"]
    assert "cannot be read" in verdicts["q4_no_lookahead"]["message"]
    assert "no check" in verdicts["q9"]["message"] and not any(v["passed"] for v in verdicts.values())


def test_the_jax_source_check_follows_helpers_and_refuses_scipy():
    from dl4f_grading import rules

    honest = ("import jax\nstep = jax.jit(jax.grad(lambda t: t))\n\ndef helper(x):\n    return step(x)\n\n"
              "def max_sharpe_jax(mu, cov):\n    return helper(mu)\n")
    assert {"grad", "jit"} <= set().union(*rules.reached(honest, "max_sharpe_jax"))
    assert rules.own_code_problems(honest, grader.Q3_JAX) == ([], [])
    sneaky = honest + "\nfrom scipy.optimize import minimize as m\n\ndef max_sharpe_jax(mu, cov):\n    return m(mu)\n"
    assert "minimize" in set().union(*rules.reached(sneaky, "max_sharpe_jax"))
    refused, _ = rules.own_code_problems(sneaky, grader.Q3_JAX)
    assert "uses scipy.optimize.minimize (as m)" in refused[0]
    assert rules.reached("x = 1", "max_sharpe_jax") is None


def test_secret_problems_are_reproducible_and_differ_between_students(stocks):
    a, b, c = grader.secret_problems(1), grader.secret_problems(1), grader.secret_problems(2)
    assert all(np.array_equal(x["cov"], y["cov"]) for x, y in zip(a, b, strict=True))
    assert a[1]["tickers"] != c[1]["tickers"] or a[1]["start"] != c[1]["start"]
    assert a[0]["name"] == "public" and a[0]["cov"].shape == (20, 20)
    assert all(p["mu"].max() > 0 for p in a)
    task = grader.holdout_task(1)
    assert task["returns"].index[0] < np.datetime64(task["split"]) < task["returns"].index[-1]


# ----------------------------------------------------------------------------------------------------
# A class graded in the sandbox


@pytest.fixture(scope="module")
def graded(tmp_path_factory, stocks):
    settings = engine.Settings(limits=sandbox.Limits(seconds=300, memory_gb=6), cell_timeout=120)
    return tp_course.grade_corpus(tmp_path_factory.mktemp("course"), TP, corpus, settings)


def test_every_submission_gets_what_its_honest_work_earns(graded):
    tp_course.assert_scores(graded["results"], corpus.EXPECTED)


def test_partial_work_loses_exactly_the_points_of_its_mistake(graded):
    results = graded["results"]
    lost = {s: sorted(g for g, v in results[s]["cells"].items() if not v["passed"]) for s in ("lookahead", "scipy_in_jax")}
    assert lost["lookahead"] == ["q4_no_lookahead"]
    assert "look-ahead" in results["lookahead"]["cells"]["q4_no_lookahead"]["message"]
    assert lost["scipy_in_jax"] == ["q3_optimum", "q3_tests", "q3_uses_jax"]
    assert "scipy.optimize.minimize" in results["scipy_in_jax"]["cells"]["q3_uses_jax"]["message"]
    lost = {s: sorted(g for g, v in results[s]["cells"].items() if not v["passed"])
            for s in ("constant", "module_lookahead")}
    assert lost["constant"] == ["q3_gradient", "q3_optimum", "q3_parametrisation", "q3_tests"]
    assert "do not depend on theta" in results["constant"]["cells"]["q3_gradient"]["message"]
    assert lost["module_lookahead"] == ["q4_no_lookahead"]
    assert "look-ahead" in results["module_lookahead"]["cells"]["q4_no_lookahead"]["message"]
    dynamic = results["dynamic"]["cells"]
    assert "needs review" in dynamic["q1_estimate"]["message"] and "globals()" in dynamic["q3_optimum"]["message"]


def test_dead_forged_and_unreadable_submissions_say_what_happened(graded):
    results = graded["results"]
    assert "q2_answer" in results["exits"]["detail"] and "died" in results["exits"]["detail"]
    assert "not valid JSON" in results["not_json"]["detail"]
    forge = results["forge"]["cells"]
    # it replaces the export (an assignment into a course module): every cell waits for the instructor, or is
    # refused outright where the question's own rules are broken too
    assert all(("needs review" in v["message"] or "not credited" in v["message"]) and "export_artifacts" in v["message"]
               for v in forge.values())
    assert sum("needs review" in v["message"] for v in forge.values()) >= len(forge) // 2
    notes = " ".join(results["edited"]["notes"])
    assert "q1_tests was modified" in notes and "setup was deleted" in notes


def test_autograded_notebooks_hold_no_hidden_test_code(graded):
    tp_course.assert_autograded_clean(graded["root"], TP, "PASSED (3/3 points)")


# ----------------------------------------------------------------------------------------------------
# The site


def test_the_tp_pages_are_on_the_site_and_the_student_version_is_clean():
    tps = tp_course.assert_tp_pages(TP, "chapters/training", "Training a Neural Network")
    assert [c["href"] for c in tps][0] == "chapters/training/tp-optimization.qmd"  # corrected page: when published


def test_every_graded_cell_of_the_source_has_a_trusted_check():
    tp_course.assert_source_is_gradable(TP, grader, framework="jax")
