"""What a graded run of the optimization TP hands the grader: runs in the sandbox, after the student's last cell.

``export_artifacts(namespace, out_dir, inputs_dir)`` calls the notebook's functions on the problems the grader
placed in ``inputs_dir`` (``problems.npz``: mean vectors, covariance matrices, probe weights and parameters,
frontier targets; ``holdout.npz``: a window of daily returns and a split date) and saves their outputs as arrays:

- ``estimate.npz``: ``estimate(returns)`` on the hold-out window's returns (a DataFrame);
- ``stats.npz``: ``portfolio_return``, ``portfolio_volatility``, ``sharpe_ratio`` on the probe weights;
- ``max_sharpe_scipy.npz``, ``max_sharpe_jax.npz``, ``min_variance.npz``: the weights on each problem;
- ``params.npz``: ``weights_from_params`` on the probe parameters and on each parameter moved by +-h (the grader
  differentiates the Sharpe ratio numerically), ``neg_sharpe`` and ``neg_sharpe_grad`` at the probes;
- ``frontier.npz``: ``efficient_frontier(mu, cov, targets)``;
- ``holdout.npz``: ``hold_out(returns, split, strategy)`` with a strategy of the grader's that records what it is
  given (the estimation window's mean and covariance) and returns fixed weights;
- ``timings.json``: the notebook's ``timings`` table; ``export.json``: what was saved, and every error.

Nothing here is trusted (the student's code runs in the same process): the grader judges the files, as data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dl4f.artifacts import Report, callable_from
from dl4f.artifacts import floats as _floats
from dl4f.artifacts import read_npz as _npz
from dl4f.artifacts import short_error as _short_error
from dl4f.export_facts import notebook_function
from dl4f.verify_programs import PROGRAMS, save_program

# The notebook's globals the export reads: dl4f.submission_run saves them after each cell, dl4f.export_run restores them.
NAMES = ("estimate", "portfolio_return", "portfolio_volatility", "sharpe_ratio", "max_sharpe_scipy", "max_sharpe_jax",
         "weights_from_params", "neg_sharpe", "neg_sharpe_grad", "min_variance", "efficient_frontier", "hold_out",
         "strategies", "timings")


def _params_problem(count: int) -> int:
    """The problem whose probes test the parametrisation and the gradient (Question 3)."""
    return 1 if count > 1 else 0


def program_probes(inputs_dir) -> dict[str, list[tuple]]:
    """The calls on which the grader's verifier runs the notebook's JAX programs (``dl4f.verify_programs``)."""
    problems = _npz(Path(inputs_dir) / "problems.npz")
    k = _params_problem(int(problems["n_problems"]))
    mu, cov = problems[f"mu_{k}"], problems[f"cov_{k}"]
    calls = [(theta, mu, cov) for theta in problems[f"theta_probe_{k}"]]
    return {"neg_sharpe_grad": calls, "neg_sharpe": calls}


def _save(path: Path, arrays: dict) -> str:
    np.savez(path, **arrays)
    return "saved " + ", ".join(sorted(arrays))[:300]


def export_artifacts(namespace: dict, out_dir, inputs_dir) -> dict:
    """Save the artifacts of the optimization TP from ``namespace`` (the notebook's globals) into ``out_dir``."""
    out, inputs = Path(out_dir), Path(inputs_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    attempt = report.attempt

    def function(name):
        return callable_from(namespace, name)

    problems = _npz(inputs / "problems.npz")
    count = int(problems["n_problems"])
    P = [{key: problems[f"{key}_{k}"] for key in ("mu", "cov", "w_probe", "theta_probe", "targets")}
         for k in range(count)]
    h = float(problems["fd_step"])
    task = _npz(inputs / "holdout.npz")

    def returns_frame():
        import pandas as pd

        index = pd.DatetimeIndex(task["dates"].astype("datetime64[ns]"), name="Date")
        return pd.DataFrame(task["values"], index=index, columns=[str(t) for t in task["tickers"]])

    def twin_frame():
        import pandas as pd

        frame = returns_frame()
        later = frame.index >= pd.Timestamp(str(task["split"]))
        frame.loc[later] = -2.0 * frame.loc[later].to_numpy()[::-1] + 0.002
        return frame

    def estimate():
        mu, cov = function("estimate")(returns_frame())
        return _save(out / "estimate.npz", {"mu": _floats(mu), "cov": _floats(cov)})

    def stats():
        arrays = {}
        for k, p in enumerate(P):
            for key, fn_name, arg in (("return", "portfolio_return", "mu"), ("volatility", "portfolio_volatility", "cov")):
                fn = function(fn_name)
                arrays[f"{key}_{k}"] = np.array([float(_floats(fn(w, p[arg]))) for w in p["w_probe"]])
            fn = function("sharpe_ratio")
            arrays[f"sharpe_{k}"] = np.array([float(_floats(fn(w, p["mu"], p["cov"]))) for w in p["w_probe"]])
        return _save(out / "stats.npz", arrays)

    def solutions(fn_name, file, args):
        def run():
            fn, arrays = function(fn_name), {}
            for k, p in enumerate(P):
                try:
                    arrays[f"w_{k}"] = _floats(fn(*[p[a] for a in args])).reshape(-1)
                except Exception as exc:  # noqa: BLE001
                    arrays[f"error_{k}"] = np.array(_short_error(exc))
            return _save(out / file, arrays)
        return run

    def params():
        p = P[_params_problem(count)]
        to_weights, objective, gradient = function("weights_from_params"), function("neg_sharpe"), None
        arrays = {"weights": np.stack([_floats(to_weights(t)).reshape(-1) for t in p["theta_probe"]])}
        n = p["theta_probe"].shape[1]
        for sign, key in ((1.0, "weights_plus"), (-1.0, "weights_minus")):
            arrays[key] = np.stack([np.stack([_floats(to_weights(t + sign * h * np.eye(n)[i])).reshape(-1)
                                              for i in range(n)]) for t in p["theta_probe"]])
        arrays["objective"] = np.array([float(_floats(objective(t, p["mu"], p["cov"]))) for t in p["theta_probe"]])
        try:
            gradient = function("neg_sharpe_grad")
            arrays["gradient"] = np.stack([_floats(gradient(t, p["mu"], p["cov"])).reshape(-1)
                                           for t in p["theta_probe"]])
        except Exception as exc:  # noqa: BLE001
            arrays["gradient_error"] = np.array(_short_error(exc))
        for name, fn in (("neg_sharpe_grad", gradient), ("neg_sharpe", objective)):
            try:  # the compiled JAX program, run by the grader's verifier (dl4f.verify_programs) on the probes
                save_program(fn, (p["theta_probe"][0], p["mu"], p["cov"]), out / PROGRAMS / f"{name}.jaxexport")
            except Exception as exc:  # noqa: BLE001  (recorded: the verifier reports the program missing)
                arrays[f"program_{name}_error"] = np.array(_short_error(exc))
        return _save(out / "params.npz", arrays)

    def frontier():
        fn, arrays = function("efficient_frontier"), {}
        for k, p in enumerate(P):
            arrays[f"W_{k}"] = _floats(fn(p["mu"], p["cov"], p["targets"]))
        return _save(out / "frontier.npz", arrays)

    def holdout():
        fn = function("hold_out")
        calls = []
        fixed = np.array(task["weights"], dtype="float64")

        def record(mu, cov):
            calls.append((_floats(mu).copy(), _floats(cov).copy()))
            return fixed.copy()

        # The same call path as the notebook's own strategies: a function of the notebook's module (its globals,
        # its file, a lambda's name), so that hold_out cannot tell the grader's probe from its own.
        strategy = notebook_function(namespace, fn, record)
        weights, portfolio = fn(returns_frame(), str(task["split"]), strategy)
        arrays = {"strategy_calls": np.array([len(calls)], dtype="float64"), "weights": _floats(weights)}
        if calls:
            arrays["strategy_mu"], arrays["strategy_cov"] = calls[0]
        if hasattr(portfolio, "index"):
            arrays["dates"] = np.asarray(portfolio.index.values.astype("datetime64[ns]").astype("int64"), "float64")
        arrays["portfolio"] = _floats(portfolio).reshape(-1)
        # The notebook's own strategies, on the returns and on a twin whose days after the split differ: without
        # look-ahead, each strategy gets the same estimates, so the same weights.
        own = namespace.get("strategies")
        for j, s in enumerate(list(own.values())[:3] if isinstance(own, dict) else []):
            try:
                if callable(s):
                    arrays[f"own_{j}_weights"] = _floats(fn(returns_frame(), str(task["split"]), s)[0]).reshape(-1)
                    arrays[f"own_{j}_twin"] = _floats(fn(twin_frame(), str(task["split"]), s)[0]).reshape(-1)
            except Exception as exc:  # noqa: BLE001
                arrays[f"own_{j}_error"] = np.array(_short_error(exc))
        return _save(out / "holdout.npz", arrays)

    def timings():
        table = namespace.get("timings")
        if not hasattr(table, "to_dict"):
            raise NameError("timings is not defined as a DataFrame (did its cell run?)")
        columns = {str(c): [v.item() if hasattr(v, "item") else v for v in table[c].tolist()] for c in table.columns}
        (out / "timings.json").write_text(json.dumps(columns, default=str)[:100000])
        return "saved"

    attempt("estimate", estimate)
    attempt("stats", stats)
    attempt("max_sharpe_scipy", solutions("max_sharpe_scipy", "max_sharpe_scipy.npz", ("mu", "cov")))
    attempt("max_sharpe_jax", solutions("max_sharpe_jax", "max_sharpe_jax.npz", ("mu", "cov")))
    attempt("params", params)
    attempt("min_variance", solutions("min_variance", "min_variance.npz", ("cov",)))
    attempt("efficient_frontier", frontier)
    attempt("hold_out", holdout)
    attempt("timings", timings)
    return report.write(out)
