"""Scores of volatility forecasts and tests of their differences: R², MSE, MAE, QLIKE, Diebold-Mariano, bootstrap, MCS.

Why four metrics. R² on ``|r|`` is ``1 - MSE / Var(|r|)``: squared errors make it hinge on a few crash days
(March 2020 alone weighs as much as months of calm), so it is reported with:

- ``mse``: the same squared loss in units (%²), the loss the networks are trained on; it ranks forecasts of
  the conditional mean correctly, but a handful of large errors dominate it.
- ``mae``: the mean absolute error (%), in the units of the returns; every day counts in proportion to the
  miss, so calm periods weigh as much as crashes.
- ``qlike``: the quasi-likelihood loss of a *variance* forecast (Patton, 2011); it scores relative errors, is
  robust to the noise of a proxy such as ``r^2`` and punishes under-forecasting a storm more than
  over-forecasting it, which is what a risk manager cares about. See ``qlike`` for the exact definition.

QLIKE needs a variance forecast, and the course's models forecast ``|r|``. ONE mapping is used everywhere
(``abs_to_variance``): if ``r = sigma * z`` with ``z ~ N(0, 1)`` then ``E|r| = sigma * sqrt(2/pi)``, so an
``|r|`` forecast ``f`` is the variance forecast ``h = (pi/2) * f^2``, compared with the squared return ``y^2``.
(Scoring ``h = f^2`` instead would read every forecast of ``E|r|`` as a variance about 2/pi = 0.64 times too
small, and QLIKE, which punishes under-forecasts, would prefer forecasts biased upwards by sqrt(pi/2).)

Is a difference real? The scores above are means over a test period; whether model A beats model B is a
question about the mean of the loss difference ``d_t = L(y_t, f_A,t) - L(y_t, f_B,t)``, whose days are
autocorrelated (volatility clusters, so do the losses). ``losses`` gives the per-day losses, then:

- ``diebold_mariano``: the t statistic of ``mean(d)`` with a Newey-West (HAC) variance (Diebold and Mariano,
  1995), statsmodels' implementation;
- ``bootstrap_mean_diff``: a stationary block bootstrap interval of ``mean(d)`` (``arch.bootstrap``);
- ``model_confidence_set``: the models that cannot be told apart from the best (Hansen, Lunde and Nason,
  2011; ``arch.bootstrap.MCS``);
- ``oos_r2``: Campbell and Thompson's (2008) out-of-sample R² against a benchmark forecast;
- ``compare``: all of them in one table, one row per model.

The seed spread of a network (``summarize_seeds``) says how much the training's randomness moves a score; it is
not the uncertainty of a ranking, which comes from the test days themselves.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from dl4f.training import predict


def r2(y_true, y_pred) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (scikit-learn's ``r2_score``)."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.size < 2:
        raise ValueError("R² needs at least 2 values")
    return float(r2_score(y_true, y_pred))


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_pred has {y_pred.size}")
    if y_true.size < 1:
        raise ValueError("give at least one value to score")
    if not np.isfinite(y_pred).all():
        raise ValueError("the predictions hold NaN or infinite values (did the training diverge?)")
    if not np.isfinite(y_true).all():
        raise ValueError("y_true holds NaN or infinite values")
    return y_true, y_pred


def mse(y_true, y_pred) -> float:
    """Mean squared error ``mean((y - f)^2)``, in the squared units of ``y``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean((y_true - y_pred) ** 2))


def mae(y_true, y_pred) -> float:
    """Mean absolute error ``mean(|y - f|)``, in the units of ``y``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


QLIKE_FLOOR = 1e-4
"""Smallest variance forecast QLIKE accepts, as a fraction of the mean realised variance ``mean(y^2)``: a
variance forecast below 1e-4 of it (a zero or negative ``|r|`` forecast) is scored as that floor."""


def abs_to_variance(f):
    """The variance forecast ``h = (pi/2) * f^2`` of an absolute-return forecast ``f`` (the course's one mapping).

    If ``r = sigma * z`` with ``z ~ N(0, 1)``, then ``E|r| = sigma * sqrt(2/pi)``: a forecast ``f`` of ``E|r|``
    is a forecast ``sigma = f * sqrt(pi/2)`` of the standard deviation, so of the variance ``(pi/2) f^2``.
    The inverse of ``baselines.garch_forecasts``' ``abs_return = sigma * sqrt(2/pi)``.
    """
    return (math.pi / 2.0) * np.asarray(f, dtype=np.float64) ** 2


def _qlike_days(y_true: np.ndarray, y_pred: np.ndarray, floor: float) -> np.ndarray:
    if (y_true < 0).any():
        raise ValueError("QLIKE scores forecasts of absolute returns: y_true must be >= 0")
    m = float(np.mean(y_true**2))
    if m <= 0:
        raise ValueError("QLIKE needs at least one non-zero realised return (mean(y^2) is 0)")
    h = np.maximum(abs_to_variance(y_pred), floor * m)
    return np.log(h / m) + y_true**2 / h - 1.0


LOSSES = ("se", "ae", "qlike")
"""The per-day losses of ``losses``: squared error, absolute error, QLIKE (of the variance ``abs_to_variance(f)``)."""


def losses(y_true, y_pred, kind: str = "se", *, floor: float = QLIKE_FLOOR) -> np.ndarray:
    """Per-day losses of the forecasts ``y_pred`` of ``y_true`` (lower is better), as a float64 vector.

    ``kind``: ``"se"`` ``(y - f)^2``, ``"ae"`` ``|y - f|``, or ``"qlike"``: with ``h = abs_to_variance(f)``
    (floored at ``floor * m``) and ``m = mean(y^2)`` over the days given, ``log(h / m) + y^2 / h - 1``
    (see ``qlike``). Their means are ``mse``, ``mae`` and ``qlike``; their differences between two models are
    what ``diebold_mariano``, ``bootstrap_mean_diff`` and ``model_confidence_set`` test.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if kind == "se":
        return (y_true - y_pred) ** 2
    if kind == "ae":
        return np.abs(y_true - y_pred)
    if kind == "qlike":
        return _qlike_days(y_true, y_pred, floor)
    raise ValueError(f"unknown loss {kind!r}: use one of {LOSSES}")


def qlike(y_true, y_pred, *, floor: float = QLIKE_FLOOR) -> float:
    """QLIKE loss of absolute-return forecasts, scored as variance forecasts ``abs_to_variance(f)``: lower is better.

    QLIKE scores a variance forecast ``h`` against a variance proxy ``s`` as ``s/h - log(s/h) - 1`` (Patton,
    2011). Here the forecasts ``f`` are of ``|r|``: they are mapped to the variance ``h = (pi/2) f^2``
    (``abs_to_variance``: ``E|r| = sigma sqrt(2/pi)`` for normal returns) and compared with ``s = y^2``. Its
    expectation is smallest at ``h = E[y^2]``, the true variance, whatever the noise of ``y^2``. Days with
    ``y = 0`` would make ``log s`` infinite, but that term does not depend on the forecast: it is replaced by
    the constant ``log m``, ``m = mean(y^2)``, which changes no difference between two models::

        qlike = mean(log(h / m) + y^2 / h) - 1

    So 0 is the score of the constant variance forecast ``h = m`` (the test period's own mean squared return,
    known only in hindsight; ``f = sqrt(2 m / pi)``) and a negative score beats it. The value does not depend
    on the units of ``y`` (percent or raw). A forecast with ``h < floor * m`` (zero or negative ``f``) is
    raised to that floor.
    """
    return float(np.mean(losses(y_true, y_pred, "qlike", floor=floor)))


METRICS = {"r2": r2, "mse": mse, "mae": mae, "qlike": qlike}
"""Every metric of the course's volatility tables: higher is better for ``r2``, lower for the others."""


def score_forecasts(y_true, predictions: dict) -> pd.DataFrame:
    """One row per forecast: ``model``, ``r2``, ``mse``, ``mae``, ``qlike``; ``predictions`` is ``{name: array}``."""
    if not predictions:
        raise ValueError("give at least one forecast to score")
    rows = []
    for name, pred in predictions.items():
        rows.append({"model": name, **{key: metric(y_true, pred) for key, metric in METRICS.items()}})
    return pd.DataFrame(rows)


def summarize_seeds(scores: pd.DataFrame, metrics=tuple(METRICS)) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each model's metrics, in the order models first appear.

    ``scores`` has one row per (model, seed) with columns ``model`` and the ``metrics``; the result has
    ``model``, ``runs`` and ``<metric>_mean``, ``<metric>_std`` (sample std, ddof=1; 0 for one run or a
    deterministic model such as HAR).
    """
    missing = {"model", *metrics} - set(scores.columns)
    if missing:
        raise ValueError(f"the scores need columns {sorted(missing)}; they have {list(scores.columns)}")
    rows = []
    for name in pd.unique(scores["model"]):
        group = scores[scores["model"] == name]
        row = {"model": name, "runs": len(group)}
        for key in metrics:
            values = group[key].to_numpy(dtype=np.float64)
            row[f"{key}_mean"] = float(values.mean())
            row[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def format_summary(summary: pd.DataFrame, metrics=tuple(METRICS), digits: int = 4) -> pd.DataFrame:
    """``summarize_seeds``'s table as text, one ``mean ± std`` column per metric (for printing and pages)."""
    table = pd.DataFrame({"model": summary["model"], "runs": summary["runs"]})
    for key in metrics:
        table[key] = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(summary[f"{key}_mean"], summary[f"{key}_std"],
                                                                        strict=True)]
    return table


def score_models(models: dict, X_test, y_test) -> pd.DataFrame:
    """One row per model: ``model``, ``r2``, ``mse`` on ``(X_test, y_test)``, in the order given."""
    if not models:
        raise ValueError("give at least one model to score")
    rows = []
    for name, model in models.items():
        pred = predict(model, X_test)
        rows.append({"model": name, "r2": r2(y_test, pred), "mse": float(np.mean((pred - np.asarray(y_test)) ** 2))})
    return pd.DataFrame(rows)


def r2_table(results: pd.DataFrame, reference: dict | None = None) -> pd.DataFrame:
    """``results`` (columns model, r2, ...) with a ``reference`` column and the difference, when given."""
    table = results.copy()
    if reference:
        table["reference_r2"] = table["model"].map(reference)
        table["difference"] = table["r2"] - table["reference_r2"]
    return table


# --------------------------------------------------------------------------- is a difference real?


def _diff(loss_a, loss_b) -> np.ndarray:
    a = np.asarray(loss_a, dtype=np.float64).reshape(-1)
    b = np.asarray(loss_b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"loss_a has {a.size} days but loss_b has {b.size}: give the losses of the same days")
    if a.size < 10:
        raise ValueError(f"a test on the loss differences needs at least 10 days, got {a.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("the losses hold NaN or infinite values")
    return a - b


def default_lags(n: int) -> int:
    """Newey-West lags of the Diebold-Mariano test for ``n`` days: ``ceil(n ** (1/3))`` (statsmodels' default)."""
    return int(math.ceil(n ** (1.0 / 3.0)))


class DMResult(NamedTuple):
    """``stat``: ``mean_diff / se`` (positive: ``loss_a`` is larger, model a is worse); ``pvalue``: two-sided."""

    stat: float
    pvalue: float
    mean_diff: float
    lags: int


def diebold_mariano(loss_a, loss_b, lags: int | None = None, *, harvey: bool = False) -> DMResult:
    """Diebold-Mariano test of equal expected loss, on the per-day losses of two forecasts of the same days.

    ``d_t = loss_a_t - loss_b_t``; the statistic is ``mean(d) / sqrt(S / n)`` with ``S`` the Newey-West (HAC,
    Bartlett kernel) long-run variance of ``d`` with ``lags`` lags (``default_lags(n)`` when None)::

        S = g_0 + 2 * sum_{j=1..lags} (1 - j / (lags + 1)) * g_j,   g_j = (1/n) sum_t (d_t - dbar)(d_{t-j} - dbar)

    It is the t statistic of a regression of ``d`` on a constant with HAC standard errors, compared with
    N(0, 1): two-sided p-value. The losses of volatility forecasts are autocorrelated (volatility clusters),
    so the plain standard error ``std(d) / sqrt(n)`` would be too small. ``harvey=True`` applies the
    Harvey-Leybourne-Newbold (1997) small-sample correction (``sqrt((n - 1) / n)`` at horizon 1, Student t with
    ``n - 1`` degrees of freedom); the course uses the default (False): for a test set of 500 days or more the
    correction changes the statistic by 0.1 % or less.

    statsmodels (>= 0.15) maintains the test (``statsmodels.tsa.stattools.diebold_mariano_test``): it is used
    here, on the losses given (the identity loss of the two loss vectors).
    """
    try:
        from statsmodels.tsa.stattools import diebold_mariano_test
    except ImportError as exc:  # statsmodels comes with arch; its Diebold-Mariano test is new in 0.15
        raise ImportError("the Diebold-Mariano test needs statsmodels 0.15 or later: pip install 'statsmodels>=0.15'"
                          ) from exc

    d = _diff(loss_a, loss_b)
    lags = default_lags(d.size) if lags is None else int(lags)
    if lags < 0 or lags >= d.size:
        raise ValueError(f"lags must be in 0..{d.size - 1}, got {lags}")
    mean_diff = float(d.mean())
    if np.allclose(d, d[0], rtol=0.0, atol=1e-14 * max(1.0, float(np.abs(d).max()))):
        raise ValueError("the two losses differ by a constant on every day (identical forecasts?): no test possible")
    res = diebold_mariano_test(np.zeros(d.size), d, np.zeros(d.size), lags=lags, criterion=lambda y, f: f,
                               harvey_adj=harvey)
    return DMResult(float(res.statistic), float(res.pvalue), mean_diff, lags)


def block_length(x) -> int:
    """A stationary-bootstrap block length for the series ``x`` (1-D, or 2-D: the largest over the columns).

    Politis and White's (2004, corrected 2009) automatic choice (``arch.bootstrap.optimal_block_length``),
    rounded up, at least 1.
    """
    from arch.bootstrap import optimal_block_length

    values = np.asarray(x, dtype=np.float64)
    values = values.reshape(len(values), -1)
    values = values[:, values.std(axis=0) > 0]  # a constant column has no autocorrelation to measure
    if values.shape[1] == 0:
        return 1
    return max(1, int(math.ceil(float(optimal_block_length(values)["stationary"].max()))))


def bootstrap_mean_diff(loss_a, loss_b, *, block: int | None = None, reps: int = 1000, seed: int = 0,
                        level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``mean(loss_a - loss_b)`` by a stationary block bootstrap (``arch.bootstrap``).

    Resampling single days would break the autocorrelation of the losses (calm and stormy weeks) and give too
    narrow an interval; the stationary bootstrap (Politis and Romano, 1994) resamples blocks of random length,
    ``block`` days on average (``block_length`` of the differences when None). An interval that excludes 0
    says the difference in mean loss is not a matter of which days the test period happened to hold.
    """
    from arch.bootstrap import StationaryBootstrap

    d = _diff(loss_a, loss_b)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level}")
    block = block_length(d) if block is None else int(block)
    bs = StationaryBootstrap(block, d, seed=seed)
    low, high = bs.conf_int(np.mean, reps=reps, method="percentile", size=level).reshape(-1)
    return float(low), float(high)


def model_confidence_set(losses: pd.DataFrame, *, size: float = 0.10, block: int | None = None, reps: int = 1000,
                         seed: int = 0) -> pd.Series:
    """MCS p-values of the models (columns of ``losses``, one row per day; Hansen, Lunde and Nason, 2011).

    ``arch.bootstrap.MCS`` with the range statistic ("R") and the stationary bootstrap (``block`` days on
    average; when None, ``block_length`` of each model's loss minus the mean loss of all models, the largest).
    The set at level ``size`` holds the models with p-value >= ``size``: those the test cannot tell apart from
    the best; a model outside it is significantly worse than some model in it. Returns the p-values in the
    order of the columns.
    """
    from arch.bootstrap import MCS

    if not isinstance(losses, pd.DataFrame) or losses.shape[1] < 2:
        raise ValueError("give the losses as a DataFrame with one column per model (at least 2) and one row per day")
    values = losses.astype(np.float64)
    if not np.isfinite(values.to_numpy()).all():
        raise ValueError("the losses hold NaN or infinite values")
    if len(values) < 10:
        raise ValueError(f"the MCS needs at least 10 days, got {len(values)}")
    if block is None:
        block = block_length(values.sub(values.mean(axis=1), axis=0).to_numpy())
    mcs = MCS(values, size=size, reps=reps, block_size=int(block), method="R", bootstrap="stationary", seed=seed)
    mcs.compute()
    return mcs.pvalues["Pvalue"].reindex(values.columns).rename("mcs_pvalue")


def oos_r2(y_true, forecast, benchmark) -> float:
    """Campbell and Thompson's (2008) out-of-sample R²: ``1 - sum((y - f)^2) / sum((y - b)^2)``.

    ``benchmark`` is a forecast made with the same information (an array, or a number such as the TRAINING
    mean of ``y``, the historical average). Positive: the forecast's squared error is below the benchmark's.
    Unlike ``r2``, whose benchmark is the test period's own mean (known only in hindsight), this is a real
    out-of-sample comparison.
    """
    y_true, forecast = _pair(y_true, forecast)
    bench = np.broadcast_to(np.asarray(benchmark, dtype=np.float64), y_true.shape)
    _, bench = _pair(y_true, bench)
    denominator = float(np.sum((y_true - bench) ** 2))
    if denominator <= 0:
        raise ValueError("the benchmark forecasts y exactly: the out-of-sample R² is undefined")
    return float(1.0 - np.sum((y_true - forecast) ** 2) / denominator)


def _decimals(values: pd.Series, digits: int = 4) -> int:
    """Decimals that keep ``digits`` significant digits of the largest magnitude (readable tables in any units)."""
    scale = float(np.nanmax(np.abs(values.to_numpy(dtype=np.float64)))) if values.notna().any() else 0.0
    if scale == 0 or not np.isfinite(scale):
        return digits
    return max(0, digits - 1 - int(math.floor(math.log10(scale))))


def compare(y_true, forecasts: dict, *, loss: str = "se", benchmark=None, reps: int = 1000, seed: int = 0,
            size: float = 0.10, block: int | None = None) -> pd.DataFrame:
    """One row per forecast (index: its name): is each one really worse than the best one?

    Columns: ``r2`` (against the test period's mean), ``oos_r2`` (Campbell-Thompson, against ``benchmark``,
    only when given: a name of ``forecasts``, an array or a number such as the training mean), ``loss`` (mean
    of ``losses(y, f, loss)``), ``dm`` and ``p_dm`` (``diebold_mariano`` of the model's losses against the best
    model's: positive = worse than the best), ``gap_lo`` and ``gap_hi`` (95 % ``bootstrap_mean_diff`` interval
    of its loss minus the best's), ``p_mcs`` (``model_confidence_set``) and ``in_mcs`` (``p_mcs >= size``). The
    best model (lowest mean loss) has no DM or gap. Values are rounded for printing (R² to 4 decimals, the
    statistic to 2, p-values to 3, losses and gaps to 4 significant digits of the largest loss): compute from
    ``losses`` for more.
    """
    if not isinstance(forecasts, dict) or len(forecasts) < 2:
        raise ValueError("give at least two forecasts to compare, as {name: array}")
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    table = pd.DataFrame({name: losses(y, f, loss) for name, f in forecasts.items()})
    means = table.mean()
    best = means.idxmin()
    for name in table.columns.drop(best):
        if np.allclose(table[name], table[best], rtol=1e-12, atol=0.0):
            raise ValueError(f"forecasts {name!r} and {best!r} have the same loss on every day: drop one of them")
    if block is None:
        block = block_length(table.sub(table.mean(axis=1), axis=0).to_numpy())
    rows = []
    for name, f in forecasts.items():
        row = {"r2": r2(y, f)}
        if benchmark is not None:
            bench = forecasts[benchmark] if isinstance(benchmark, str) else benchmark
            row["oos_r2"] = oos_r2(y, f, bench)
        row["loss"] = float(means[name])
        if name == best:
            row.update(dm=np.nan, p_dm=np.nan, gap_lo=np.nan, gap_hi=np.nan)
        else:
            dm = diebold_mariano(table[name], table[best])
            low, high = bootstrap_mean_diff(table[name], table[best], block=block, reps=reps, seed=seed)
            row.update(dm=dm.stat, p_dm=dm.pvalue, gap_lo=low, gap_hi=high)
        rows.append(row)
    out = pd.DataFrame(rows, index=pd.Index(list(forecasts), name="model"))
    out["p_mcs"] = model_confidence_set(table, size=size, block=block, reps=reps, seed=seed).to_numpy()
    out["in_mcs"] = out["p_mcs"] >= size
    for col in ("r2", "oos_r2"):
        if col in out:
            out[col] = out[col].round(4)
    out["dm"] = out["dm"].round(2)
    out[["p_dm", "p_mcs"]] = out[["p_dm", "p_mcs"]].round(3)
    decimals = _decimals(out["loss"])  # the mean losses and their gaps, to the same decimals
    out[["loss", "gap_lo", "gap_hi"]] = out[["loss", "gap_lo", "gap_hi"]].round(decimals)
    return out
