"""The optimization TP's grading: what each graded cell checks, its points, and the tolerances. Trusted side only.

Every graded cell of ``solutions/tp-optimization/tp-optimization.ipynb`` (visible tests and hidden tests alike) is
decided here, from the files of a sandboxed run (``dl4f.tp_optimization_artifacts``) and the student's source read
as text. The student's functions were called, in the sandbox, on problems this module wrote into ``inputs``: the
notebook's own window ("public", for the visible tests) and, drawn from a secret per-student seed, other windows
and other subsets of the 20 stocks the student never saw. The grader recomputes every estimate from the data cache
and solves every problem itself with SciPy (SLSQP), then compares.

Tolerances (calibrated by ``benchmarks/calibrate_tp_optimization.py`` over 12 seeds; numbers in the notebook's
grading note):

- constraints: ``|sum(w) - 1| <= 1e-6`` and ``w >= -1e-6``;
- optimum: the student's Sharpe ratio (or variance) within ``OPTIMUM_THRESHOLD`` (relative) of the grader's;
- estimates and formulas (mean, covariance, annualised statistics, held-out returns): relative ``1e-8``;
- gradient: central finite differences (step ``1e-5``, float64) of the grader's Sharpe ratio of the student's
  weights, against the student's gradient, within ``GRADIENT_THRESHOLD`` (relative to ``1 + max|g|``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl4f_grading import keras_artifacts as art
from dl4f_grading import programs, rules
from dl4f_grading.cells import decide, prepared
from dl4f_grading.source_checks import Rules

ASSIGNMENT = "tp-optimization"
EXPORT_MODULE = "dl4f.tp_optimization_artifacts"
RECIPE_EPOCHS = 0  # nothing is trained: never "quick"
JUDGE_IMPORTS = ("scipy.optimize",)  # what the checks import (the grader's SLSQP): by the judge while it waits

TRADING_DAYS = 252
CONSTRAINT_THRESHOLD = 1e-6
OPTIMUM_THRESHOLD = 1e-3  # relative gap of the Sharpe ratio (or of the variance) to the grader's SciPy optimum
FORMULA_THRESHOLD = 1e-8
GRADIENT_THRESHOLD = 1e-4
FD_STEP = 1e-5

PUBLIC = {"tickers": None, "start": "2015-01-01", "end": "2020-01-01"}  # the notebook's estimation window
N_SECRET = 2  # secret problems per student
N_PROBES = 4  # weight vectors and parameter vectors probed
N_TARGETS = 5  # points of the efficient frontier checked
FIRST_YEAR, LAST_YEAR, WINDOW_YEARS = 2004, 2019, 3
HOLD_YEARS = 1


# ----------------------------------------------------------------------------------------------------
# The grader's problems, from the seed


def _returns(tickers, start, end):
    from dl4f import tp_optimization

    return tp_optimization.load_returns(list(tickers) if tickers is not None else None, start, end)


def _estimate(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return values.mean(axis=0), np.cov(values, rowvar=False, ddof=1)


def secret_problems(seed: int) -> list[dict]:
    """The public problem, then ``N_SECRET`` windows and subsets of stocks drawn from ``seed`` (mean > 0 somewhere)."""
    from dl4f import data

    rng = np.random.default_rng([seed, 7])
    problems = [dict(PUBLIC, name="public")]
    while len(problems) < 1 + N_SECRET:
        n = int(rng.integers(5, 13))
        tickers = sorted(rng.choice(data.STOCK_TICKERS, size=n, replace=False).tolist())
        year = int(rng.integers(FIRST_YEAR, LAST_YEAR + 1))
        problem = {"tickers": tickers, "start": f"{year}-01-01", "end": f"{year + WINDOW_YEARS}-01-01",
                   "name": f"secret{len(problems)}"}
        mu, _ = _estimate(_returns(tickers, problem["start"], problem["end"]).to_numpy())
        if mu.max() > 0:  # a long-only maximum Sharpe ratio that is positive
            problems.append(problem)
    for p in problems:
        values = _returns(p["tickers"], p["start"], p["end"]).to_numpy()
        p["mu"], p["cov"] = _estimate(values)
        n = len(p["mu"])
        p["w_probe"] = rng.dirichlet(np.ones(n), size=N_PROBES)
        p["theta_probe"] = rng.normal(0.0, 1.0, size=(N_PROBES, n))
        low, high = p["mu"].min() * TRADING_DAYS, p["mu"].max() * TRADING_DAYS
        p["targets"] = low + (high - low) * np.linspace(0.1, 0.9, N_TARGETS)
    return problems


def holdout_task(seed: int) -> dict:
    """A window of returns (estimation then holding), a split date and the weights the grader's strategy returns."""
    from dl4f import data

    rng = np.random.default_rng([seed, 11])
    n = int(rng.integers(4, 9))
    tickers = sorted(rng.choice(data.STOCK_TICKERS, size=n, replace=False).tolist())
    year = int(rng.integers(FIRST_YEAR, LAST_YEAR))
    split = f"{year + 2}-{int(rng.integers(1, 13)):02d}-01"
    returns = _returns(tickers, f"{year}-01-01", f"{year + 2 + HOLD_YEARS}-06-01")
    return {"tickers": tickers, "split": split, "returns": returns, "weights": rng.dirichlet(np.ones(n))}


def _write(folder: Path, problems: list[dict], task: dict) -> None:
    arrays = {}
    for k, p in enumerate(problems):
        for key in ("mu", "cov", "w_probe", "theta_probe", "targets"):
            arrays[f"{key}_{k}"] = p[key]
    arrays["n_problems"] = np.array(len(problems))
    arrays["fd_step"] = np.array(FD_STEP)
    np.savez(folder / "problems.npz", **arrays)
    r = task["returns"]
    np.savez(folder / "holdout.npz", values=r.to_numpy(), dates=r.index.values.astype("datetime64[ns]").astype("int64"),
             tickers=np.array(task["tickers"]), split=np.array(task["split"]), weights=task["weights"])


def inputs(seed: int, folder: Path) -> dict:
    """Write the sandbox's inputs (problems, hold-out task) into ``folder``; return the secrets the judge needs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    secrets = regenerate_secrets(seed)
    _write(folder, secrets["problems"], secrets["holdout"])
    return secrets


def regenerate_secrets(seed: int) -> dict:
    return {"problems": secret_problems(seed), "holdout": holdout_task(seed)}


# ----------------------------------------------------------------------------------------------------
# The grader's own solutions (SciPy, SLSQP)


def sharpe(w, mu, cov) -> float:
    w = np.asarray(w, dtype="float64")
    return float(TRADING_DAYS * w @ mu / np.sqrt(TRADING_DAYS * w @ cov @ w))


def _slsqp(fun, n, extra=(), x0=None):
    from scipy.optimize import minimize

    cons = [{"type": "eq", "fun": lambda w: np.sum(w) - 1.0}, *extra]
    res = minimize(fun, np.full(n, 1.0 / n) if x0 is None else x0, method="SLSQP", bounds=[(0.0, 1.0)] * n,
                   constraints=cons, options={"ftol": 1e-15, "maxiter": 1000})
    w = np.clip(res.x, 0.0, None)
    return w / w.sum()


@functools.lru_cache(maxsize=64)
def _cached(kind: str, key: bytes, n: int, extra: float = 0.0):
    mu, cov = np.frombuffer(key[: 8 * n]), np.frombuffer(key[8 * n:]).reshape(n, n)
    if kind == "sharpe":
        # From equal weights, from the best single stock, then restarted from the better of the two.
        starts = (np.full(n, 1.0 / n), np.eye(n)[int(np.argmax(mu / np.sqrt(np.diag(cov))))] * 0.9 + 0.1 / n)
        found = [_slsqp(lambda w: -sharpe(w, mu, cov), n, x0=x0) for x0 in starts]
        best = max(found, key=lambda w: sharpe(w, mu, cov))
        polished = _slsqp(lambda w: -sharpe(w, mu, cov), n, x0=best)
        return max((best, polished), key=lambda w: sharpe(w, mu, cov))
    if kind == "minvar":
        return _slsqp(lambda w: w @ cov @ w * 1e4, n)
    if kind == "frontier":
        target = extra / TRADING_DAYS
        return _slsqp(lambda w: w @ cov @ w * 1e4, n, extra=[{"type": "eq", "fun": lambda w: (w @ mu - target) * 1e3}])
    raise ValueError(kind)


def _key(mu, cov) -> tuple[bytes, int]:
    mu, cov = np.ascontiguousarray(mu, dtype="float64"), np.ascontiguousarray(cov, dtype="float64")
    return mu.tobytes() + cov.tobytes(), len(mu)


def reference_max_sharpe(mu, cov) -> np.ndarray:
    key, n = _key(mu, cov)
    return _cached("sharpe", key, n)


def reference_min_variance(cov) -> np.ndarray:
    key, n = _key(np.zeros(len(cov)), cov)
    return _cached("minvar", key, n)


def reference_frontier(mu, cov, target: float) -> np.ndarray:
    key, n = _key(mu, cov)
    return _cached("frontier", key, n, float(target))


def prepare(seed: int, secrets: dict) -> None:
    """The grader's own solutions of every secret problem (cached above): the waiting judge computes them while the
    notebook runs (``judge.main``), the checks then find them."""
    for p in secrets["problems"]:
        reference_max_sharpe(p["mu"], p["cov"])
        reference_min_variance(p["cov"])
        for target in p["targets"]:
            reference_frontier(p["mu"], p["cov"], target)


# ----------------------------------------------------------------------------------------------------
# Reading the artifacts


def _array(arrays: dict, key: str, shape: tuple, what: str) -> np.ndarray:
    assert key in arrays, f"{what}: no result (see the error in export.json: did the function run?)"
    value = arrays[key]
    assert value.dtype.kind in "fiub", f"{what}: not numbers ({value.dtype}); " + (
        f"error: {str(value)[:300]}" if value.dtype.kind in "US" else "")
    value = np.asarray(value, dtype="float64")
    assert value.size == int(np.prod(shape)), f"{what}: expected shape {shape}, got {value.shape}"
    value = value.reshape(shape)
    assert np.isfinite(value).all(), f"{what}: holds NaN or infinite values"
    return value


def check_weights(w: np.ndarray, what: str) -> None:
    total = float(w.sum())
    assert abs(total - 1.0) <= CONSTRAINT_THRESHOLD, f"{what}: the weights sum to {total:.8f}, not 1"
    assert w.min() >= -CONSTRAINT_THRESHOLD, f"{what}: a weight is negative ({w.min():.2e}): long-only means w >= 0"


def _close(a, b, what: str, rtol: float = FORMULA_THRESHOLD, scale=None) -> None:
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    scale = np.max(np.abs(b)) if scale is None else scale
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    assert err <= rtol * max(scale, 1e-300), f"{what}: off by {err:.3e} (tolerance {rtol:g} relative)"


@dataclass
class Context:
    artifacts: Path
    source: str
    secrets: dict
    answers: dict | None = None  # grade id -> the student's answer cell (None: not known)
    verified: Path | None = None  # the outputs of the notebook's JAX programs, run by the grader's verifier

    def __post_init__(self):
        self.files = art.ArtifactCache(self.artifacts)

    def npz(self, name: str) -> dict:
        try:
            return self.files.npz(name)
        except AssertionError as exc:
            raise AssertionError(f"{exc} (see export.json: did the function run on the grader's problems?)") from None

    @property
    def problems(self) -> list[dict]:
        return self.secrets["problems"]


def _problems(ctx: Context, public: bool) -> list[tuple[int, dict]]:
    return [(k, p) for k, p in enumerate(ctx.problems) if (p["name"] == "public") == public]


# ----------------------------------------------------------------------------------------------------
# Question 1: estimates and statistics


def _check_estimate(ctx: Context) -> str:
    arrays = ctx.npz("estimate.npz")
    task = ctx.secrets["holdout"]
    values = task["returns"].to_numpy()
    n = values.shape[1]
    mu, cov = _estimate(values)
    _close(_array(arrays, "mu", (n,), "estimate: mu"), mu, "estimate: the mean daily returns")
    got = _array(arrays, "cov", (n, n), "estimate: cov")
    if np.allclose(got, cov * (len(values) - 1) / len(values), rtol=1e-10, atol=0):
        raise AssertionError("estimate: the covariance divides by T, not T - 1 (use the sample covariance)")
    _close(got, cov, "estimate: the covariance of daily returns")
    return f"estimate: mean and sample covariance of daily returns match on {len(values)} days x {n} stocks"


def _check_stats(ctx: Context, public: bool) -> str:
    arrays = ctx.npz("stats.npz")
    checked = 0
    for k, p in _problems(ctx, public):
        probes = p["w_probe"]
        m = len(probes)
        ret = np.array([TRADING_DAYS * w @ p["mu"] for w in probes])
        vol = np.array([np.sqrt(TRADING_DAYS * w @ p["cov"] @ w) for w in probes])
        _close(_array(arrays, f"return_{k}", (m,), "portfolio_return"), ret, "portfolio_return (annualised: 252 w'mu)")
        _close(_array(arrays, f"volatility_{k}", (m,), "portfolio_volatility"), vol,
               "portfolio_volatility (annualised: sqrt(252 w'cov w))")
        _close(_array(arrays, f"sharpe_{k}", (m,), "sharpe_ratio"), ret / vol, "sharpe_ratio (return / volatility)")
        checked += m
    return f"annualised return, volatility and Sharpe ratio match on {checked} portfolios"


def _q1_tests(ctx):
    return _check_stats(ctx, public=True)


def _q1_estimate(ctx):
    return _check_estimate(ctx)


def _q1_statistics(ctx):
    return _check_stats(ctx, public=False)


# ----------------------------------------------------------------------------------------------------
# Questions 2 and 3: maximum Sharpe ratio


def _solutions(ctx: Context, file: str, what: str, public: bool) -> list[tuple[dict, np.ndarray]]:
    arrays = ctx.npz(file)
    out = []
    for k, p in _problems(ctx, public):
        n = len(p["mu"])
        w = _array(arrays, f"w_{k}", (n,), f"{what} on problem {k} ({n} assets)")
        out.append((p, w))
    return out


def _check_constraints(ctx, file, what, public) -> str:
    for p, w in _solutions(ctx, file, what, public):
        check_weights(w, f"{what} on {len(w)} assets")
        start = sharpe(np.full(len(w), 1.0 / len(w)), p["mu"], p["cov"])
        got = sharpe(w, p["mu"], p["cov"])
        assert got > start + 1e-9 * abs(start), (
            f"{what} on {len(w)} assets: Sharpe ratio " + (f"{got:.5f}, no better than equal weights ({start:.5f})"
                                                           if public else "no better than equal weights") +
            ", where the optimisation starts")
    return f"{what}: the weights are long-only, sum to 1, and improve on equal weights"


def _check_max_sharpe(ctx, file, what, public) -> str:
    parts = []
    for p, w in _solutions(ctx, file, what, public):
        check_weights(w, f"{what} on {len(w)} assets")
        best = sharpe(reference_max_sharpe(p["mu"], p["cov"]), p["mu"], p["cov"])
        got = sharpe(w, p["mu"], p["cov"])
        gap = (best - got) / abs(best)
        # the values on the grader's problems are not shown (their data is the grader's), only how far from the optimum
        values = f"Sharpe ratio {got:.5f}, the optimum is {best:.5f} " if public else "Sharpe ratio below the optimum "
        assert gap <= OPTIMUM_THRESHOLD, (f"{what} on {len(w)} assets: {values}"
                                          f"(relative gap {gap:.1e} > {OPTIMUM_THRESHOLD:g})")
        parts.append(f"{got:.4f} vs {best:.4f}" if public else f"relative gap {max(gap, 0.0):.1e}")
    return f"{what}: Sharpe ratio at the optimum ({'; '.join(parts)})"


def _q2_tests(ctx):
    return _check_max_sharpe(ctx, "max_sharpe_scipy.npz", "max_sharpe_scipy", public=True)


def _q2_constraints(ctx):
    return _check_constraints(ctx, "max_sharpe_scipy.npz", "max_sharpe_scipy", public=False)


def _q2_optimum(ctx):
    return _check_max_sharpe(ctx, "max_sharpe_scipy.npz", "max_sharpe_scipy", public=False)


def _check_timings(ctx) -> None:
    try:
        table = art.read_json(ctx.artifacts, "timings.json")
    except AssertionError as exc:
        raise AssertionError(f"timings: {exc}") from None
    assert isinstance(table, dict), "timings: no table was exported (a DataFrame `timings` is expected)"
    sizes = table.get("n_assets")
    assert isinstance(sizes, list) and sorted(sizes) == [5, 10, 20], \
        f"timings: one row per number of assets 5, 10, 20 expected, got n_assets = {sizes}"
    for column in ("scipy_seconds", "jax_seconds"):
        col = table.get(column)
        assert isinstance(col, list) and len(col) == 3 and all(isinstance(v, (int, float)) and 0 < v < 600 for v in col), \
            f"timings: column {column} must hold three times in seconds"


def _q3_tests(ctx):
    _check_timings(ctx)
    msg = _check_max_sharpe(ctx, "max_sharpe_jax.npz", "max_sharpe_jax", public=True)
    return msg + "; the timing table has 5, 10 and 20 assets"


def _params(ctx: Context) -> tuple[dict, dict, int]:
    arrays = ctx.npz("params.npz")
    k, p = _problems(ctx, public=False)[0]
    return arrays, p, k


def _q3_parametrisation(ctx):
    arrays, p, _ = _params(ctx)
    n = len(p["mu"])
    m = len(p["theta_probe"])
    W = _array(arrays, "weights", (m, n), "weights_from_params")
    for j in range(m):
        check_weights(W[j], f"weights_from_params(theta) for a random theta of {n} parameters")
    assert np.ptp(W, axis=0).max() > 1e-3, "weights_from_params: the weights do not depend on theta"
    plus = _array(arrays, "weights_plus", (m, n, n), "weights_from_params(theta + h e_i)")
    moved = np.abs(plus - W[:, None, :]).max(axis=2)  # (probe, parameter): what moving theta_i by h changes
    assert (moved > 0).any(axis=1).all(), "weights_from_params: some weights do not move when theta moves"
    return f"weights_from_params: {m} random parameter vectors give long-only weights summing to 1"


def _programs(ctx, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``neg_sharpe`` and ``neg_sharpe_grad`` at the probes, as their JAX programs compute them (run by the grader's
    verifier where no student Python ran: no callback into SciPy, no value that changes when traced)."""
    arrays = _params(ctx)[0]
    grads = programs.outputs(ctx.verified, "neg_sharpe_grad", "neg_sharpe_grad",
                             arrays.get("program_neg_sharpe_grad_error"))
    values = programs.outputs(ctx.verified, "neg_sharpe", "neg_sharpe", arrays.get("program_neg_sharpe_error"))
    assert len(values) == m and len(grads) == m and all(len(g) == 1 and g[0].size == n for g in grads), (
        "neg_sharpe_grad(theta, mu, cov) must return one array of the shape of theta")
    return np.array([float(v[0].reshape(-1)[0]) for v in values]), np.stack([g[0].reshape(-1) for g in grads])


def _q3_gradient(ctx):
    # A property paired with correctness: the gradient of a constant is zero, so the weights must be right first.
    _q3_parametrisation(ctx)
    arrays, p, _ = _params(ctx)
    mu, cov = p["mu"], p["cov"]
    n, m = len(mu), len(p["theta_probe"])
    W = _array(arrays, "weights", (m, n), "weights_from_params")
    plus = _array(arrays, "weights_plus", (m, n, n), "weights_from_params(theta + h e_i)")
    minus = _array(arrays, "weights_minus", (m, n, n), "weights_from_params(theta - h e_i)")
    values, grads = _programs(ctx, m, n)
    programs.same_as_python(values, _array(arrays, "objective", (m,), "neg_sharpe"), "neg_sharpe")
    programs.same_as_python(grads, _array(arrays, "gradient", (m, n), "neg_sharpe_grad"), "neg_sharpe_grad")
    worst = 0.0
    for j in range(m):
        expected = -sharpe(W[j], mu, cov)
        _close(values[j], expected, "neg_sharpe(theta) must be minus the annualised Sharpe ratio of "
               "weights_from_params(theta)", rtol=1e-6, scale=abs(expected))
        fd = np.array([(-sharpe(plus[j, i], mu, cov) + sharpe(minus[j, i], mu, cov)) / (2 * FD_STEP) for i in range(n)])
        err = float(np.max(np.abs(grads[j] - fd)) / (1.0 + np.max(np.abs(fd))))
        worst = max(worst, err)
        assert err <= GRADIENT_THRESHOLD, (f"neg_sharpe_grad differs from finite differences of neg_sharpe by {err:.1e} "
                                           f"(relative, tolerance {GRADIENT_THRESHOLD:g})")
    return (f"neg_sharpe_grad matches central finite differences (worst relative error {worst:.1e}), computed by its "
            "JAX program")


def _q3_optimum(ctx):
    return _check_max_sharpe(ctx, "max_sharpe_jax.npz", "max_sharpe_jax", public=False)


# Q3's optimizer must be written with JAX's gradients, not SciPy's optimizer (the question's rules, checked for
# every Question 3 cell that grades max_sharpe_jax); its gradient is a JAX program, run by the grader (no callback).
GRADIENT_NAMES = frozenset({"grad", "value_and_grad", "neg_sharpe_grad"})
_ANY = Rules(names=frozenset(), modules=(), task="write the answer in its cell")
JAX_ONLY = Rules(names=frozenset({"minimize", "SLSQP", "max_sharpe_scipy", "min_variance", "efficient_frontier",
                                  "reference_max_sharpe", "pure_callback", "io_callback", "callback"}),
                 modules=("scipy", "cvxpy", "cvxopt", "sklearn", "dl4f_grading", "skfolio", "riskfolio",
                          "pypfopt", "jax.experimental.host_callback"),
                 task="optimise with JAX's gradients yourself", source_wide=False)
_Q3_ENTRIES = ("weights_from_params", "neg_sharpe", "neg_sharpe_grad")
Q3_PARAMS = rules.Question(("weights_from_params",), _ANY, "q3_answer")
Q3_GRADIENT = rules.Question(_Q3_ENTRIES, _ANY, "q3_answer")
Q3_JAX = rules.Question(("max_sharpe_jax",), JAX_ONLY, "q3_answer",
                        required=((GRADIENT_NAMES, "use the gradient of JAX (jax.grad or jax.value_and_grad)"),
                                  (frozenset({"jit"}), "compile its gradient or its steps with jax.jit")))
QUESTIONS = {"q1": rules.Question(("estimate", "portfolio_return", "portfolio_volatility", "sharpe_ratio"), _ANY,
                                  "q1_answer"),
             "q2": rules.Question(("max_sharpe_scipy",), _ANY, "q2_answer"),
             "q3_parametrisation": Q3_PARAMS, "q3_gradient": Q3_GRADIENT, "q3": Q3_JAX,
             "q4": rules.Question(("min_variance", "efficient_frontier", "hold_out"), _ANY, "q4_answer")}


def _q3_uses_jax(ctx):
    _, p, _ = _params(ctx)
    _programs(ctx, len(p["theta_probe"]), len(p["mu"]))  # its gradient is a JAX program: no callback into SciPy
    return "max_sharpe_jax optimises with jax.grad and jax.jit, without SciPy"


# ----------------------------------------------------------------------------------------------------
# Question 4: minimum variance, frontier, out of sample


def _variance(w, cov) -> float:
    return float(TRADING_DAYS * w @ cov @ w)


def _check_min_variance(ctx, public: bool) -> str:
    parts = []
    for p, w in _solutions(ctx, "min_variance.npz", "min_variance", public):
        check_weights(w, f"min_variance on {len(w)} assets")
        best = _variance(reference_min_variance(p["cov"]), p["cov"])
        got = _variance(w, p["cov"])
        gap = (got - best) / best
        values = f"variance {got:.6f}, the minimum is {best:.6f} " if public else "variance above the minimum "
        assert gap <= OPTIMUM_THRESHOLD, (f"min_variance on {len(w)} assets: {values}"
                                          f"(relative gap {gap:.1e} > {OPTIMUM_THRESHOLD:g})")
        parts.append(f"vol {np.sqrt(got):.4f} vs {np.sqrt(best):.4f}" if public else f"relative gap {max(gap, 0.0):.1e}")
    return "min_variance: at the minimum (" + "; ".join(parts) + ")"


def _q4_tests(ctx):
    return _check_min_variance(ctx, public=True)


def _q4_min_variance(ctx):
    return _check_min_variance(ctx, public=False)


def _q4_frontier(ctx):
    arrays = ctx.npz("frontier.npz")
    checked = 0
    for k, p in _problems(ctx, public=False):
        n, targets = len(p["mu"]), p["targets"]
        W = _array(arrays, f"W_{k}", (len(targets), n), f"efficient_frontier on problem {k}")
        for t, w in zip(targets, W, strict=True):
            check_weights(w, f"efficient_frontier (target {t:.4f})")
            got_ret = TRADING_DAYS * w @ p["mu"]
            assert abs(got_ret - t) <= 1e-4 * max(abs(t), 1e-2), (
                f"efficient_frontier: the portfolio for the target return {t:.4f} returns {got_ret:.4f}")
            best = _variance(reference_frontier(p["mu"], p["cov"], t), p["cov"])
            got = _variance(w, p["cov"])
            assert (got - best) / best <= OPTIMUM_THRESHOLD, (
                f"efficient_frontier: at the target return {t:.4f} the variance is {got:.6f}, the minimum {best:.6f}")
            checked += 1
    return f"efficient_frontier: {checked} portfolios meet their target return at the minimum variance"


def _q4_no_lookahead(ctx):
    arrays = ctx.npz("holdout.npz")
    task = ctx.secrets["holdout"]
    returns = task["returns"]
    import pandas as pd

    split = pd.Timestamp(task["split"])
    est, hold = returns.loc[returns.index < split], returns.loc[returns.index >= split]
    n = returns.shape[1]
    for j in range(3):  # the notebook's own strategies, on the returns and on a twin with another future
        if f"own_{j}_weights" in arrays and f"own_{j}_twin" in arrays:
            a = _array(arrays, f"own_{j}_weights", (n,), "hold_out with the notebook's strategies")
            b = _array(arrays, f"own_{j}_twin", (n,), "hold_out with the notebook's strategies")
            assert np.allclose(a, b, rtol=1e-6, atol=1e-8), (
                "hold_out: with the notebook's own strategies, the weights change when only the returns after the "
                "split change: the estimates use the holding window (look-ahead)")
    called = _array(arrays, "strategy_calls", (1,), "hold_out: calls of the strategy")
    assert called[0] == 1, f"hold_out must call the strategy once (on the estimation window), called it {called[0]:g} times"
    mu, cov = _estimate(est.to_numpy())
    got_mu = _array(arrays, "strategy_mu", (n,), "hold_out: the mu given to the strategy")
    got_cov = _array(arrays, "strategy_cov", (n, n), "hold_out: the cov given to the strategy")
    full_mu, _ = _estimate(returns.to_numpy())
    if np.allclose(got_mu, full_mu, rtol=1e-8) and not np.allclose(mu, full_mu, rtol=1e-8):
        raise AssertionError("hold_out: the strategy was given estimates over the whole period: look-ahead")
    _close(got_mu, mu, f"hold_out: the mu given to the strategy is not the mean over the estimation window only "
           f"(the {len(est)} days before {split.date()})")
    _close(got_cov, cov, "hold_out: the cov given to the strategy is not the covariance over the estimation window")
    w = _array(arrays, "weights", (n,), "hold_out: the weights returned")
    _close(w, task["weights"], "hold_out: must return the strategy's weights unchanged")
    dates = _array(arrays, "dates", (len(hold),), f"hold_out: one return per day of the holding window ({len(hold)})")
    expected_dates = hold.index.values.astype("datetime64[ns]").astype("int64").astype("float64")
    assert np.array_equal(dates, expected_dates), "hold_out: the portfolio returns are not on the holding window's dates"
    values = _array(arrays, "portfolio", (len(hold),), "hold_out: the portfolio's daily returns")
    _close(values, hold.to_numpy() @ task["weights"], "hold_out: the portfolio's daily returns (returns @ weights)")
    return (f"hold_out: estimated on {len(est)} days before {split.date()}, held {len(hold)} days from it: "
            "no look-ahead")


_CHECKS: dict[str, Callable[[Context], str]] = {
    "q1_tests": _q1_tests, "q1_estimate": _q1_estimate, "q1_statistics": _q1_statistics,
    "q2_tests": _q2_tests, "q2_constraints": _q2_constraints, "q2_optimum": _q2_optimum,
    "q3_tests": _q3_tests, "q3_parametrisation": _q3_parametrisation, "q3_gradient": _q3_gradient,
    "q3_optimum": _q3_optimum, "q3_uses_jax": _q3_uses_jax,
    "q4_tests": _q4_tests, "q4_min_variance": _q4_min_variance, "q4_frontier": _q4_frontier,
    "q4_no_lookahead": _q4_no_lookahead,
}
CELLS = rules.guarded(_CHECKS, QUESTIONS)


def judge(artifacts: Path, source: str, seed: int, quick: bool, cells: list[str],
          answers: dict | None = None, verified: str | None = None, secrets: dict | None = None) -> dict[str, dict]:
    """Decide every graded cell in ``cells``: {grade_id: {"passed": bool, "message": str}}. Never raises.
    ``answers`` (grade id -> the student's answer cell): where given, answers count only in their own cells."""
    return decide(CELLS, lambda: Context(Path(artifacts), source, prepared(secrets, regenerate_secrets, seed), answers,
                                         Path(verified) if verified else None), cells)
