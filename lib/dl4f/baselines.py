"""Econometric volatility baselines: HAR (Corsi, 2009) and GARCH(1,1) one-day-ahead forecasts.

Every forecast here is a forecast of day ``d`` made with data up to the trading day before ``d``, and is
indexed by ``d`` (the *target* date), exactly like the TP's targets ``y`` and their ``test_dates``. So a
baseline's forecasts for the TP's test split are ``forecasts.loc[data.test_dates]``.

HAR: the heterogeneous autoregressive model regresses the next day's absolute return on its means over the
last 1, 5 and 22 trading days (a day, a week, a month)::

    |r|_{t+1} = b0 + b1 * mean(|r|_t) + b5 * mean(|r|_{t-4..t}) + b22 * mean(|r|_{t-21..t}) + e_{t+1}

fitted by ordinary least squares (closed form) on the training period only.

GARCH(1,1): ``r_t = sigma_t * z_t`` with zero mean and normal ``z_t``, and
``sigma^2_{t+1} = omega + alpha * r_t^2 + beta * sigma^2_t``. Its three parameters are fitted (``arch``
package, maximum likelihood) on the training period only; then the recursion runs through the test period
with those parameters fixed, so the forecast of day ``d`` uses the returns up to the day before ``d`` only.
Units: ``arch`` wants returns of order 1, so the returns are multiplied by ``scale`` (default 100: percent)
before the fit, and the forecasts are divided by it again: forecasts come back in the units of the input.
With a zero mean and a symmetric ``z``, the likelihood depends on ``r_t^2`` only, so fitting on the absolute
returns gives the same model as fitting on the signed ones (``tp_rnn.TPData.returns`` holds absolute returns).

From sigma to an absolute-return forecast: if ``r = sigma * z`` with ``z ~ N(0, 1)``, then
``E|r| = sigma * sqrt(2 / pi)`` (about 0.80 sigma). ``garch_forecasts`` returns both ``sigma`` and that
``abs_return`` forecast; the latter is what is compared with the networks (which forecast ``|r|``).

Typical use with the TP's data::

    from dl4f import baselines, tp_rnn
    data = tp_rnn.load_data()                       # percent
    preds = baselines.tp_baselines(data)            # {"HAR": array, "GARCH(1,1)": array}, aligned with data.y_test
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

HAR_LAGS = (1, 5, 22)
"""The HAR model's averaging windows, in trading days: a day, a week, a month (Corsi, 2009)."""

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
"""``E|z|`` for a standard normal ``z``: an absolute-return forecast is ``sigma * SQRT_2_OVER_PI``."""

BASELINE_NAMES = ("HAR", "GARCH(1,1)")
"""The names under which ``tp_baselines`` returns its forecasts (and the tables show them)."""


def _as_series(values, name: str) -> pd.Series:
    if not isinstance(values, pd.Series):
        raise ValueError(f"{name} must be a pandas Series indexed by date, got {type(values).__name__}")
    if values.isna().any():
        raise ValueError(f"{name} holds {int(values.isna().sum())} NaN values; drop them first")
    if not values.index.is_monotonic_increasing:
        raise ValueError(f"{name} must be sorted by date (use .sort_index())")
    return values.astype(np.float64)


# --------------------------------------------------------------------------- HAR


def har_features(abs_returns: pd.Series, lags=HAR_LAGS) -> pd.DataFrame:
    """The HAR regressors of each target day: means of ``|r|`` over the ``lags`` days BEFORE it.

    Row ``d`` (a date of ``abs_returns``) holds, for each ``L`` in ``lags``, the mean of the ``L`` values of
    ``abs_returns`` on the ``L`` trading days before ``d`` (``d`` itself excluded): what is known when the
    forecast of day ``d`` is made. Columns are ``mean_1d``, ``mean_5d``, ``mean_22d``. The first ``max(lags)``
    days, which lack a full history, are dropped; no value of day ``d`` or later enters row ``d``.
    """
    series = _as_series(abs_returns, "abs_returns")
    lags = tuple(int(lag) for lag in lags)
    if not lags or min(lags) < 1:
        raise ValueError(f"lags must be positive integers such as (1, 5, 22), got {lags}")
    if len(series) <= max(lags):
        raise ValueError(f"HAR features with lags {lags} need more than {max(lags)} days, got {len(series)}")
    # rolling(L).mean() at day t averages t-L+1..t; shifting by one puts it on day t+1, the day it forecasts
    features = pd.DataFrame({f"mean_{lag}d": series.rolling(lag).mean().shift(1) for lag in lags})
    return features.iloc[max(lags) :]


class HAR:
    """Ordinary least squares on the HAR features, in closed form (``numpy.linalg.lstsq``), scikit-learn style.

    ``fit(X, y)`` with ``X`` of shape (n, k) (e.g. ``har_features(...)``) and ``y`` of shape (n,);
    ``predict(X)``; after fitting, ``intercept_`` and ``coef_`` (one per column of ``X``).
    """

    def __init__(self):
        self.intercept_: float | None = None
        self.coef_: np.ndarray | None = None

    @staticmethod
    def _design(X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be two-dimensional (samples, features), got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X holds NaN or infinite values; drop the days without a full history")
        return np.column_stack([np.ones(len(X)), X])

    def fit(self, X, y) -> HAR:
        A = self._design(X)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(y) != len(A):
            raise ValueError(f"X has {len(A)} rows but y has {len(y)} values")
        if len(y) <= A.shape[1]:
            raise ValueError(f"{len(y)} observations are too few to fit {A.shape[1]} coefficients")
        beta, *_ = np.linalg.lstsq(A, y, rcond=None)
        self.intercept_, self.coef_ = float(beta[0]), beta[1:]
        return self

    def predict(self, X) -> np.ndarray:
        if self.coef_ is None:
            raise ValueError("fit the HAR model before predicting")
        A = self._design(X)
        if A.shape[1] - 1 != len(self.coef_):
            raise ValueError(f"X has {A.shape[1] - 1} features, the model was fitted on {len(self.coef_)}")
        return A[:, 1:] @ self.coef_ + self.intercept_


def har_forecasts(abs_returns: pd.Series, train_end, lags=HAR_LAGS) -> tuple[pd.Series, HAR]:
    """Fit HAR on the target days up to ``train_end`` (inclusive), forecast every later day.

    Returns ``(forecasts, model)``: ``forecasts`` is indexed by the target dates after ``train_end``, in the
    units of ``abs_returns``. The training rows are the days ``d <= train_end`` with a full 22-day history.
    """
    X = har_features(abs_returns, lags)
    y = _as_series(abs_returns, "abs_returns").loc[X.index]
    train_end = pd.Timestamp(train_end)
    train = X.index <= train_end
    if not train.any() or train.all():
        raise ValueError(f"train_end {train_end.date()} must leave days on both sides in {X.index[0].date()}.."
                         f"{X.index[-1].date()}")
    model = HAR().fit(X[train], y[train])
    return pd.Series(model.predict(X[~train]), index=X.index[~train], name="HAR"), model


# --------------------------------------------------------------------------- GARCH(1,1)


def fit_garch(returns: pd.Series, train_end, *, scale: float = 100.0, dist: str = "normal"):
    """Fit a zero-mean GARCH(1,1) on the returns up to ``train_end`` (inclusive); returns ``arch``'s result.

    ``returns`` (signed or absolute: see the module's docstring) are multiplied by ``scale`` before the fit.
    The model holds ALL the returns (so that it can forecast the later days), but only those up to
    ``train_end`` enter the likelihood (``last_obs``). ``result.params`` holds ``omega``, ``alpha[1]``,
    ``beta[1]`` in the scaled units.
    """
    from arch import arch_model

    series = _as_series(returns, "returns")
    train_end = pd.Timestamp(train_end)
    n_train = int((series.index <= train_end).sum())
    if n_train < 100:
        raise ValueError(f"GARCH needs at least 100 training days up to {train_end.date()}, got {n_train}")
    if n_train == len(series):
        raise ValueError(f"train_end {train_end.date()} leaves no day to forecast after it")
    model = arch_model(series * scale, mean="Zero", vol="GARCH", p=1, q=1, dist=dist, rescale=False)
    return model.fit(last_obs=n_train, disp="off", show_warning=False)


def garch_forecasts(
    returns: pd.Series, train_end, *, scale: float = 100.0, dist: str = "normal", result=None
) -> pd.DataFrame:
    """One-day-ahead GARCH(1,1) forecasts of every day after ``train_end``, parameters fitted up to it.

    Returns a DataFrame indexed by the target dates (the days after ``train_end``) with columns ``sigma``
    (the conditional standard deviation of that day's return) and ``abs_return`` (``sigma * sqrt(2/pi)``, the
    expected ``|r|`` under normality), both in the units of ``returns``. The forecast of day ``d`` uses the
    returns up to the trading day before ``d`` and the parameters of ``fit_garch`` (pass ``result`` to reuse
    a fit). Changing the returns of day ``d`` or later leaves the forecasts of days up to ``d`` unchanged.
    """
    series = _as_series(returns, "returns")
    if result is None:
        result = fit_garch(series, train_end, scale=scale, dist=dist)
    n_train = int((series.index <= pd.Timestamp(train_end)).sum())
    # the row of day t holds the variance forecast of day t+1, from data up to t and the fitted parameters
    variance = result.forecast(horizon=1, start=n_train - 1, reindex=False).variance["h.1"].to_numpy()
    target_dates = series.index[n_train:]
    sigma = np.sqrt(variance[: len(target_dates)]) / scale
    return pd.DataFrame({"sigma": sigma, "abs_return": sigma * SQRT_2_OVER_PI}, index=target_dates)


# --------------------------------------------------------------------------- the TP's split


def tp_train_end(data) -> pd.Timestamp:
    """The last day of the TP's training period: the trading day before its first test date.

    ``data`` is a ``dl4f.tp_rnn.TPData``; every baseline fitted up to this day sees no test target.
    """
    dates = data.returns.index
    first_test = data.test_dates[0]
    position = dates.get_loc(first_test)
    if position < 1:
        raise ValueError("the TP's first test date is the first day of its returns: no training period")
    return pd.Timestamp(dates[position - 1])


def tp_baselines(data, *, lags=HAR_LAGS) -> dict[str, np.ndarray]:
    """HAR and GARCH(1,1) forecasts of the TP's test targets, aligned with ``data.y_test``, in its units.

    ``data`` is a ``dl4f.tp_rnn.TPData`` (percent by default). Both models are fitted on the training
    period only (up to ``tp_train_end(data)``); GARCH's ``abs_return`` (``sigma * sqrt(2/pi)``) is the
    forecast of ``|r|``. Returns ``{"HAR": array, "GARCH(1,1)": array}``, each of shape ``data.y_test.shape``.
    """
    returns = data.returns
    # the TP's y values are its returns times a unit factor (100 in percent, 1 in raw units)
    realised = returns.loc[data.test_dates].to_numpy()
    nonzero = realised > 0
    if not nonzero.any():
        raise ValueError("the TP's test returns are all zero: no unit to infer")
    unit = float(np.median(np.asarray(data.y_test)[nonzero] / realised[nonzero]))
    train_end = tp_train_end(data)
    har, _ = har_forecasts(returns, train_end, lags=lags)
    garch = garch_forecasts(returns, train_end)
    return {
        "HAR": har.loc[data.test_dates].to_numpy() * unit,
        "GARCH(1,1)": garch["abs_return"].loc[data.test_dates].to_numpy() * unit,
    }
