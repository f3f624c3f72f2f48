"""dl4f.evaluation's tests of forecast differences: each checked against a hand computation or a reference library.

The QLIKE mapping (|r| forecast -> variance), Diebold-Mariano (Newey-West variance, statsmodels), the stationary
block bootstrap and the Model Confidence Set (arch), the Campbell-Thompson out-of-sample R², and ``compare``.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dl4f import evaluation

# --------------------------------------------------------------------------- the |r| -> variance mapping, QLIKE


def test_abs_to_variance_is_the_normal_mean_absolute_value_identity():
    """E|r| = sigma sqrt(2/pi) for r ~ N(0, sigma^2): the mean |r| of a large sample maps back to sigma^2."""
    assert evaluation.abs_to_variance(math.sqrt(2 / math.pi)) == pytest.approx(1.0, rel=1e-15)
    np.testing.assert_allclose(evaluation.abs_to_variance([0.0, 2.0]), [0.0, 2 * math.pi], rtol=1e-15)
    sigma = 1.7
    r = np.random.default_rng(0).normal(0.0, sigma, 400_000)
    assert evaluation.abs_to_variance(np.abs(r).mean()) == pytest.approx(sigma**2, rel=5e-3)


def _normal_returns(n=100_000, seed=1):
    """Returns with a changing volatility sigma_t (log-normal), normal given sigma_t: r_t = sigma_t z_t."""
    rng = np.random.default_rng(seed)
    sigma = np.exp(rng.normal(0.0, 0.5, n))
    return sigma, np.abs(sigma * rng.standard_normal(n))


def test_expected_qlike_is_smallest_at_the_true_variance():
    """E[QLIKE] of the forecast c * E|r_t| is smallest at c = 1, where abs_to_variance(f) = sigma_t^2.

    The earlier mapping h = f^2 is checked too: its minimum sits at c = sqrt(pi/2) ~ 1.25, a bias it forced on
    every forecast of E|r|.
    """
    sigma, y = _normal_returns()
    scales = np.arange(0.90, 1.36, 0.01)
    fair = sigma * math.sqrt(2 / math.pi)  # E|r_t| given sigma_t
    scores = [evaluation.qlike(y, c * fair) for c in scales]
    assert scales[int(np.argmin(scores))] == pytest.approx(1.0, abs=0.021)
    old = [np.mean(np.log((c * fair) ** 2) + y**2 / (c * fair) ** 2) for c in scales]  # h = f^2
    assert scales[int(np.argmin(old))] == pytest.approx(math.sqrt(math.pi / 2), abs=0.021)
    # the true variance beats the unconditional one (0 by construction) by a wide margin
    assert evaluation.qlike(y, fair) < -0.2 and evaluation.qlike(y, np.full(y.size, np.sqrt(2 * np.mean(y**2) / np.pi))
                                                                 ) == pytest.approx(0.0, abs=1e-12)


def test_losses_are_the_per_day_terms_of_the_metrics():
    y, f = np.array([1.0, 2.0, 4.0, 0.0]), np.array([2.0, 2.0, 1.0, 0.5])
    np.testing.assert_allclose(evaluation.losses(y, f, "se"), [1.0, 0.0, 9.0, 0.25], rtol=1e-15)
    np.testing.assert_allclose(evaluation.losses(y, f, "ae"), [1.0, 0.0, 3.0, 0.5], rtol=1e-15)
    assert evaluation.losses(y, f).mean() == pytest.approx(evaluation.mse(y, f), rel=1e-15)
    q = evaluation.losses(y, f, "qlike")
    h, m = np.pi / 2 * f**2, np.mean(y**2)
    np.testing.assert_allclose(q, np.log(h / m) + y**2 / h - 1, rtol=1e-12)
    assert q.mean() == pytest.approx(evaluation.qlike(y, f), rel=1e-15)
    with pytest.raises(ValueError, match="unknown loss 'mape'"):
        evaluation.losses(y, f, "mape")


# --------------------------------------------------------------------------- Diebold-Mariano


def _newey_west_t(d, lags):
    """By hand: mean(d) / sqrt(S / n), S = g0 + 2 sum_j (1 - j/(L+1)) g_j, g_j = (1/n) sum_t e_t e_{t-j}."""
    n = len(d)
    e = [x - sum(d) / n for x in d]
    gamma = [sum(e[t] * e[t - j] for t in range(j, n)) / n for j in range(lags + 1)]
    s = gamma[0] + 2 * sum((1 - j / (lags + 1)) * gamma[j] for j in range(1, lags + 1))
    return (sum(d) / n) / math.sqrt(s / n)


def test_diebold_mariano_equals_a_hand_computed_newey_west_and_statsmodels_ols_hac():
    from statsmodels.regression.linear_model import OLS

    loss_a = np.array([1.2, 0.4, 2.5, 0.9, 1.1, 3.0, 0.2, 0.8, 1.9, 1.4, 0.6, 2.2])
    loss_b = np.array([1.0, 0.5, 1.5, 1.0, 0.7, 2.1, 0.4, 0.5, 1.2, 1.5, 0.3, 1.6])
    d = loss_a - loss_b
    res = evaluation.diebold_mariano(loss_a, loss_b, lags=2)
    assert res.lags == 2 and res.mean_diff == pytest.approx(d.mean(), rel=1e-14)
    assert res.stat == pytest.approx(_newey_west_t(list(d), 2), rel=1e-10)
    ols = OLS(d, np.ones_like(d)).fit(cov_type="HAC", cov_kwds={"maxlags": 2})
    assert res.stat == pytest.approx(float(ols.tvalues[0]), rel=1e-10)
    assert res.pvalue == pytest.approx(2 * stats.norm.sf(abs(res.stat)), rel=1e-10)
    assert res.stat > 0  # a has the larger loss
    flipped = evaluation.diebold_mariano(loss_b, loss_a, lags=2)
    assert flipped.stat == pytest.approx(-res.stat, rel=1e-12) and flipped.pvalue == pytest.approx(res.pvalue)
    # Harvey-Leybourne-Newbold: sqrt((n - 1) / n) at horizon 1, Student t with n - 1 degrees of freedom
    hln = evaluation.diebold_mariano(loss_a, loss_b, lags=2, harvey=True)
    assert hln.stat == pytest.approx(res.stat * math.sqrt(11 / 12), rel=1e-12)
    assert hln.pvalue == pytest.approx(2 * stats.t.sf(abs(hln.stat), df=11), rel=1e-10)


def test_diebold_mariano_default_lags_and_autocorrelation():
    """Autocorrelated differences (AR(1), phi = 0.8): the HAC t is well below the naive iid t."""
    rng = np.random.default_rng(3)
    n, e = 1000, rng.standard_normal(1000)
    d = np.empty(n)
    d[0] = e[0]
    for t in range(1, n):
        d[t] = 0.8 * d[t - 1] + e[t]
    d += 0.3
    res = evaluation.diebold_mariano(d, np.zeros(n))
    assert res.lags == evaluation.default_lags(n) == 10
    assert res.stat == pytest.approx(_newey_west_t(list(d), 10), rel=1e-10)
    naive = d.mean() / (d.std() / math.sqrt(n))
    assert res.stat < 0.6 * naive
    with pytest.raises(ValueError, match="same days"):
        evaluation.diebold_mariano(d, d[:-1])
    with pytest.raises(ValueError, match="identical forecasts"):
        evaluation.diebold_mariano(d, d)


# --------------------------------------------------------------------------- bootstrap, MCS


def test_bootstrap_interval_is_arch_stationary_bootstrap_percentile_interval():
    from arch.bootstrap import StationaryBootstrap, optimal_block_length

    rng = np.random.default_rng(4)
    loss_b = rng.chisquare(1, 600)
    loss_a = loss_b + 0.2 + 0.5 * rng.standard_normal(600)
    d = loss_a - loss_b
    low, high = evaluation.bootstrap_mean_diff(loss_a, loss_b, block=7, reps=500, seed=11, level=0.9)
    ref = StationaryBootstrap(7, d, seed=11).conf_int(np.mean, reps=500, method="percentile", size=0.9)
    np.testing.assert_allclose([low, high], ref.reshape(-1), rtol=1e-12)
    assert low < d.mean() < high and low > 0  # a is worse, and the interval says so
    block = evaluation.block_length(d)
    assert block == max(1, math.ceil(optimal_block_length(d)["stationary"].iloc[0]))
    auto = evaluation.bootstrap_mean_diff(loss_a, loss_b, reps=500, seed=11, level=0.9)
    ref = StationaryBootstrap(block, d, seed=11).conf_int(np.mean, reps=500, method="percentile", size=0.9)
    np.testing.assert_allclose(auto, ref.reshape(-1), rtol=1e-12)
    with pytest.raises(ValueError, match="level"):
        evaluation.bootstrap_mean_diff(loss_a, loss_b, level=95)
    assert evaluation.block_length(np.zeros(50)) == 1  # nothing to measure: single days


def test_model_confidence_set_drops_the_clearly_worse_model_and_keeps_the_equal_ones():
    rng = np.random.default_rng(5)
    n = 800
    common = rng.chisquare(2, n)
    losses = pd.DataFrame({"A": common + 0.3 * rng.standard_normal(n), "B": common + 0.3 * rng.standard_normal(n),
                           "worse": common + 0.5 + 0.3 * rng.standard_normal(n)})
    p = evaluation.model_confidence_set(losses, reps=500, seed=0)
    assert list(p.index) == ["A", "B", "worse"]
    assert p["worse"] < 0.01
    assert p["A"] >= 0.10 and p["B"] >= 0.10 and p.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one column per model"):
        evaluation.model_confidence_set(losses[["A"]])


# --------------------------------------------------------------------------- out-of-sample R², compare


def test_oos_r2_is_campbell_thompson():
    y = np.array([1.0, 3.0, 2.0, 5.0])
    f = np.array([1.5, 2.5, 2.0, 4.0])
    bench = 2.0  # e.g. the training mean
    expected = 1 - (0.25 + 0.25 + 0 + 1) / (1 + 1 + 0 + 9)
    assert evaluation.oos_r2(y, f, bench) == pytest.approx(expected, rel=1e-14)
    assert evaluation.oos_r2(y, f, np.full(4, bench)) == pytest.approx(expected, rel=1e-14)
    # against the test period's own mean it is scikit-learn's R²
    assert evaluation.oos_r2(y, f, y.mean()) == pytest.approx(evaluation.r2(y, f), rel=1e-12)
    with pytest.raises(ValueError, match="undefined"):
        evaluation.oos_r2(y, f, y)


def test_compare_table():
    rng = np.random.default_rng(6)
    n = 700
    sigma = np.exp(np.convolve(rng.normal(0, 0.6, n + 50), np.ones(50) / 7, "valid")[:n])
    y = np.abs(sigma * rng.standard_normal(n))
    fair = sigma * math.sqrt(2 / math.pi)
    forecasts = {"good": fair, "noisy": fair * np.exp(0.5 * rng.standard_normal(n)), "flat": np.full(n, 0.8)}
    table = evaluation.compare(y, forecasts, benchmark="flat", reps=300)
    assert list(table.index) == ["good", "noisy", "flat"]
    assert list(table.columns) == ["r2", "oos_r2", "loss", "dm", "p_dm", "gap_lo", "gap_hi", "p_mcs", "in_mcs"]
    assert table.loc["good", ["dm", "p_dm", "gap_lo", "gap_hi"]].isna().all()  # the best one
    assert table.loc["flat", "oos_r2"] == 0.0 and table.loc["good", "oos_r2"] > 0
    se = evaluation.losses(y, fair), evaluation.losses(y, forecasts["flat"])
    dm = evaluation.diebold_mariano(se[1], se[0])
    assert table.loc["flat", "dm"] == pytest.approx(dm.stat, abs=0.005) and dm.stat > 2
    assert table.loc["flat", "gap_lo"] > 0 and not table.loc["flat", "in_mcs"] and table.loc["good", "in_mcs"]
    assert table.loc["good", "loss"] == pytest.approx(se[0].mean(), rel=1e-3)
    assert max(len(line) for line in table.to_string().splitlines()) <= 90
    q = evaluation.compare(y, forecasts, loss="qlike", reps=300)
    assert "oos_r2" not in q.columns and q["loss"].idxmin() == "good"
    with pytest.raises(ValueError, match="at least two"):
        evaluation.compare(y, {"good": fair})
    with pytest.raises(ValueError, match="'copy' and 'good' have the same loss"):
        evaluation.compare(y, {"good": fair, "copy": fair.copy()})
