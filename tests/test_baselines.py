"""dl4f.baselines: HAR is closed-form least squares on its three features; GARCH(1,1) forecasts use only the past."""

import numpy as np
import pandas as pd
import pytest

from dl4f import baselines, evaluation


def garch_returns(n=1500, omega=0.02, alpha=0.08, beta=0.9, seed=0) -> pd.Series:
    """A simulated GARCH(1,1) path (percent-like units), on business days: synthetic, for unit tests only."""
    rng = np.random.default_rng(seed)
    r, h = np.empty(n), omega / (1 - alpha - beta)
    for t in range(n):
        r[t] = np.sqrt(h) * rng.standard_normal()
        h = omega + alpha * r[t] ** 2 + beta * h
    return pd.Series(r / 100, index=pd.bdate_range("2001-01-01", periods=n), name="return")


# --------------------------------------------------------------------------- HAR


def test_har_features_are_means_of_the_days_before():
    x = pd.Series(np.arange(1.0, 41.0), index=pd.bdate_range("2020-01-01", periods=40))
    features = baselines.har_features(x)
    assert list(features.columns) == ["mean_1d", "mean_5d", "mean_22d"]
    assert features.index[0] == x.index[22]  # the first day with 22 days before it
    row = features.loc[x.index[30]]  # x on day k is k + 1; the day before index 30 holds 30
    assert row["mean_1d"] == 30.0
    assert row["mean_5d"] == pytest.approx(np.mean([26, 27, 28, 29, 30]))
    assert row["mean_22d"] == pytest.approx(np.mean(np.arange(9, 31)))
    # no look-ahead: changing day d and later leaves row d unchanged
    changed = x.copy()
    changed.iloc[30:] = 1000.0
    pd.testing.assert_series_equal(baselines.har_features(changed).loc[x.index[30]], row)
    with pytest.raises(ValueError, match="more than 22 days"):
        baselines.har_features(x.iloc[:22])
    with pytest.raises(ValueError, match="pandas Series"):
        baselines.har_features(x.to_numpy())


def test_har_is_closed_form_least_squares_on_its_three_features(tp_data):
    """On the TP's real data: the coefficients and forecasts are those of lstsq on [1, mean_1d, mean_5d, mean_22d]."""
    returns = tp_data.returns
    train_end = baselines.tp_train_end(tp_data)
    forecasts, model = baselines.har_forecasts(returns, train_end)

    X = baselines.har_features(returns)
    train = X.index <= train_end
    A = np.column_stack([np.ones(train.sum()), X[train].to_numpy()])
    beta, *_ = np.linalg.lstsq(A, returns.loc[X.index[train]].to_numpy(), rcond=None)
    np.testing.assert_allclose([model.intercept_, *model.coef_], beta, rtol=1e-10)
    expected = np.column_stack([np.ones((~train).sum()), X[~train].to_numpy()]) @ beta
    np.testing.assert_allclose(forecasts.to_numpy(), expected, rtol=1e-10)
    assert forecasts.index[0] == tp_data.test_dates[0] and forecasts.index[-1] == tp_data.test_dates[-1]
    # persistence: the three coefficients add up to a large fraction of 1 on |r| of the S&P 500
    assert 0.5 < model.coef_.sum() < 1.0


def test_har_checks_its_inputs():
    with pytest.raises(ValueError, match="fit the HAR model"):
        baselines.HAR().predict(np.ones((3, 3)))
    with pytest.raises(ValueError, match="3 rows but y has 2"):
        baselines.HAR().fit(np.ones((3, 3)), [1.0, 2.0])
    model = baselines.HAR().fit(np.random.default_rng(0).normal(size=(20, 3)), np.arange(20.0))
    with pytest.raises(ValueError, match="2 features, the model was fitted on 3"):
        model.predict(np.ones((4, 2)))


# --------------------------------------------------------------------------- GARCH(1,1)


def test_garch_forecasts_use_only_past_data():
    r = garch_returns()
    train_end = r.index[999]
    fc = baselines.garch_forecasts(r, train_end)
    assert fc.index[0] == r.index[1000] and fc.index[-1] == r.index[-1]

    changed = r.copy()
    changed.iloc[1200:] *= 5.0  # a storm from day 1200 on
    fc_changed = baselines.garch_forecasts(changed, train_end)
    # parameters come from the training period only: the same fit
    params = baselines.fit_garch(r, train_end).params
    pd.testing.assert_series_equal(baselines.fit_garch(changed, train_end).params, params)
    # forecasts of days up to 1200 are made with returns up to 1199: unchanged; day 1201 sees the storm
    pd.testing.assert_frame_equal(fc_changed.loc[: r.index[1200]], fc.loc[: r.index[1200]])
    assert fc_changed.loc[r.index[1201], "sigma"] > fc.loc[r.index[1201], "sigma"]
    # the test can fail: changing the training period changes the parameters
    early = r.copy()
    early.iloc[500:600] *= 3.0
    assert not np.allclose(baselines.fit_garch(early, train_end).params, params)


def test_garch_forecast_of_day_d_follows_the_recursion_on_day_d_minus_1():
    """sigma²_d = omega + alpha r²_{d-1} + beta sigma²_{d-1}: the forecast of d uses the return of the day before."""
    r = garch_returns(seed=1)
    train_end = r.index[999]
    result = baselines.fit_garch(r, train_end)
    omega, alpha, beta = result.params[["omega", "alpha[1]", "beta[1]"]]
    fc = baselines.garch_forecasts(r, train_end, result=result)
    h = (100 * fc["sigma"]) ** 2  # back to the fitted (percent) units
    r100 = 100 * r.loc[fc.index]
    np.testing.assert_allclose(h.iloc[1:].to_numpy(), omega + alpha * r100.iloc[:-1].to_numpy() ** 2
                               + beta * h.iloc[:-1].to_numpy(), rtol=1e-8)
    assert 0.8 < alpha + beta < 1.0  # the simulated persistence is 0.98
    np.testing.assert_allclose(fc["abs_return"], fc["sigma"] * np.sqrt(2 / np.pi))


def test_garch_on_absolute_returns_equals_garch_on_signed_returns():
    """Zero mean, normal shocks: the likelihood sees r² only, so |r| (what the TP keeps) gives the same model."""
    r = garch_returns(seed=2)
    fc_signed = baselines.garch_forecasts(r, r.index[999])
    fc_abs = baselines.garch_forecasts(r.abs(), r.index[999])
    np.testing.assert_allclose(fc_abs["sigma"], fc_signed["sigma"], rtol=1e-5)


def test_garch_checks_its_inputs():
    r = garch_returns(n=300)
    with pytest.raises(ValueError, match="at least 100 training days"):
        baselines.fit_garch(r, r.index[50])
    with pytest.raises(ValueError, match="no day to forecast"):
        baselines.fit_garch(r, r.index[-1])
    with pytest.raises(ValueError, match="NaN"):
        baselines.fit_garch(r.where(r.index != r.index[10]), r.index[200])


# --------------------------------------------------------------------------- the TP's split


def test_tp_baselines_are_aligned_with_the_test_split(tp_data):
    preds = baselines.tp_baselines(tp_data)
    assert list(preds) == list(baselines.BASELINE_NAMES)
    train_end = baselines.tp_train_end(tp_data)
    assert train_end < tp_data.test_dates[0] and tp_data.returns.index.get_loc(tp_data.test_dates[0]) == (
        tp_data.returns.index.get_loc(train_end) + 1
    )
    for name, pred in preds.items():
        assert pred.shape == tp_data.y_test.shape and (pred > 0).all(), name
    # in percent, like y_test: HAR's forecast equals the raw-units forecast x 100
    har_raw, _ = baselines.har_forecasts(tp_data.returns, train_end)
    np.testing.assert_allclose(preds["HAR"], 100 * har_raw.loc[tp_data.test_dates].to_numpy(), rtol=1e-10)
    # both are serious rivals: R² on the test split between 0.2 and 0.4 (the TP's networks: 0.14-0.31)
    for name, pred in preds.items():
        assert 0.2 < evaluation.r2(tp_data.y_test, pred) < 0.4, name
