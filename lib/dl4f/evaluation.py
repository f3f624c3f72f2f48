"""Scores: R² of each model on the test split, as a tidy table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from dl4f.training import predict


def r2(y_true, y_pred) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (scikit-learn's ``r2_score``)."""
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_pred has {y_pred.size}")
    if y_true.size < 2:
        raise ValueError("R² needs at least 2 values")
    if not np.isfinite(y_pred).all():
        raise ValueError("the predictions hold NaN or infinite values (did the training diverge?)")
    return float(r2_score(y_true, y_pred))


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
