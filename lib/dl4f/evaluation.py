"""Scores of volatility forecasts on the test split: R², MSE, MAE and QLIKE, as tidy tables.

Why four metrics. R² on ``|r|`` is ``1 - MSE / Var(|r|)``: squared errors make it hinge on a few crash days
(March 2020 alone weighs as much as months of calm), so it is reported with:

- ``mse``: the same squared loss in units (%²), the loss the networks are trained on; it ranks forecasts of
  the conditional mean correctly, but a handful of large errors dominate it.
- ``mae``: the mean absolute error (%), in the units of the returns; every day counts in proportion to the
  miss, so calm periods weigh as much as crashes.
- ``qlike``: the quasi-likelihood loss of a *variance* forecast (Patton, 2011); it scores relative errors, is
  robust to the noise of a proxy such as ``r^2`` and punishes under-forecasting a storm more than
  over-forecasting it, which is what a risk manager cares about. See ``qlike`` for the exact definition.
"""

from __future__ import annotations

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
"""Smallest variance forecast QLIKE accepts, as a fraction of the mean realised variance ``mean(y^2)``: an
absolute-return forecast below 1 % of the root mean square ``|r|`` (zero or negative) is scored as that 1 %."""


def qlike(y_true, y_pred, *, floor: float = QLIKE_FLOOR) -> float:
    """QLIKE loss of absolute-return forecasts, scored as variance forecasts: lower is better.

    QLIKE scores a variance forecast ``h`` against a variance proxy ``s`` as ``s/h - log(s/h) - 1`` (Patton,
    2011). Here the forecasts ``f`` are of ``|r|``, so ``h = f^2`` and ``s = y^2``. Days with ``y = 0`` would
    make ``log s`` infinite, but that term does not depend on the forecast: it is replaced by the constant
    ``log m``, ``m = mean(y^2)``, which changes no difference between two models::

        qlike = mean(log(h / m) + y^2 / h) - 1

    So 0 is the score of the constant forecast ``h = m`` (the test period's own mean squared return, known
    only in hindsight) and a negative score beats it. The value does not depend on the units of ``y``
    (percent or raw). QLIKE ranks variance forecasts correctly although ``y^2`` is a noisy proxy of the
    variance. A forecast with ``f^2 < floor * m`` (zero or negative) is raised to that floor.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if (y_true < 0).any():
        raise ValueError("QLIKE scores forecasts of absolute returns: y_true must be >= 0")
    m = float(np.mean(y_true**2))
    if m <= 0:
        raise ValueError("QLIKE needs at least one non-zero realised return (mean(y^2) is 0)")
    h = np.maximum(y_pred**2, floor * m)
    return float(np.mean(np.log(h / m) + y_true**2 / h) - 1.0)


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
