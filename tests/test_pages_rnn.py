"""The formulas and stored results of the RNN pages (and the two intro pages on baselines and the MLP).

Each test checks a formula a page states against code (Keras, arch, NumPy), or the shape of a stored result
a page reads. No market-data training: small random inputs only.
"""

import math

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND before keras)
import keras
# isort: on
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from dl4f import baselines, hardware

RESULTS = ROOT / "chapters" / "rnn" / "results"


def test_conv1d_costs_two_k_c_f_flops_per_position():
    # rnn-limitations: a Conv1D with k taps, c channels and f filters is one (k c) x f product per position
    k, c, f, T = 3, 2, 4, 10
    x = np.random.default_rng(0).normal(size=(1, T, c)).astype("float32")
    layer = keras.layers.Conv1D(f, k, padding="causal", use_bias=False)
    out = np.asarray(layer(x))[0]
    kernel = layer.get_weights()[0]                                  # (k, c, f)
    padded = np.concatenate([np.zeros((k - 1, c), "float32"), x[0]])
    patches = np.stack([padded[t : t + k].reshape(-1) for t in range(T)])   # (T, k c): im2col
    np.testing.assert_allclose(out, patches @ kernel.reshape(k * c, f), rtol=1e-5, atol=1e-6)
    assert kernel.size == k * c * f                                   # k c f multiply-adds per position: 2 k c f FLOPs


def test_the_matched_convolution_does_the_lstm_s_arithmetic_within_one_percent():
    lstm = hardware.lstm_flops(1, 1, 1, 32)
    assert lstm == 2 * 33 * 128 == 8448
    matched = 2 * 5 * 1 * 32 + 2 * 4 * 32 * 32
    assert abs(matched / lstm - 1) < 0.01
    assert lstm / (2 * 5 * 1 * 32) == pytest.approx(26.4, abs=0.05)


@pytest.mark.parametrize("u", [4, 16])
def test_recurrent_parameter_counts(u):
    # sequential-data: u(d + u + 1) + u + 1; lstm: 4u(d + u + 1); modern-rnns: GRU 3(du + u^2 + 2u)
    def count(layer):
        return keras.Sequential([keras.Input((7, 1)), layer, keras.layers.Dense(1)]).count_params()

    assert count(keras.layers.SimpleRNN(u)) == u * (1 + u + 1) + u + 1
    assert count(keras.layers.LSTM(u)) == 4 * u * (1 + u + 1) + u + 1
    assert count(keras.layers.GRU(u)) == 3 * (u + u * u + 2 * u) + u + 1


def test_mean_absolute_normal_is_sqrt_two_over_pi():
    # traditional-models, exercise 4: E|z| = sqrt(2/pi), by quadrature
    z = np.linspace(-12, 12, 200_001)
    density = np.exp(-z**2 / 2) / math.sqrt(2 * math.pi)
    assert np.trapezoid(np.abs(z) * density, z) == pytest.approx(math.sqrt(2 / math.pi), rel=1e-6)
    assert baselines.SQRT_2_OVER_PI == pytest.approx(math.sqrt(2 / math.pi), rel=1e-12)


def test_garch_variance_forecast_decays_at_the_persistence_towards_the_long_run_variance():
    # traditional-models: deviation from omega / (1 - alpha - beta) shrinks by alpha + beta per day (arch's forecast)
    from arch import arch_model

    omega, alpha, beta = 0.02, 0.10, 0.88
    r = pd.Series(np.random.default_rng(1).normal(size=500))
    res = arch_model(r, mean="Zero", vol="GARCH", p=1, q=1, rescale=False).fix([omega, alpha, beta])
    path = res.forecast(horizon=30, reindex=False).variance.iloc[-1].to_numpy()
    long_run = omega / (1 - alpha - beta)
    expected = long_run + (alpha + beta) ** np.arange(30) * (path[0] - long_run)
    np.testing.assert_allclose(path, expected, rtol=1e-8, atol=1e-12)


def test_ewma_weights_and_half_lives():
    # sequential-data exercise 4: unrolled EWMA weights (1 - lam) lam^k; lstm/rnn-limitations half-lives
    lam, x = 0.94, np.random.default_rng(2).normal(size=50)
    h = 0.0
    for value in x:
        h = lam * h + (1 - lam) * value
    weights = (1 - lam) * lam ** np.arange(50)
    assert h == pytest.approx(weights @ x[::-1], rel=1e-12, abs=1e-15)
    assert math.log(0.5) / math.log(lam) == pytest.approx(11.2, abs=0.05)
    sigmoid = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    assert math.log(0.5) / math.log(sigmoid(1)) == pytest.approx(2.2, abs=0.05)
    assert math.log(0.5) / math.log(sigmoid(3)) == pytest.approx(14.3, abs=0.05)


def test_har_is_a_22_lag_regression_with_equal_weights_within_each_window():
    # sequential-data exercise 5
    abs_r = pd.Series(np.abs(np.random.default_rng(3).normal(size=120)), index=pd.bdate_range("2020-01-01", periods=120))
    X = baselines.har_features(abs_r)
    model = baselines.HAR().fit(X, abs_r.loc[X.index])
    b1, b5, b22 = model.coef_
    lag_weights = np.array([b1 * (j == 0) + b5 / 5 * (j < 5) + b22 / 22 for j in range(22)])
    lags = np.stack([abs_r.shift(j + 1).loc[X.index] for j in range(22)], axis=1)   # |r| of the 22 days before
    np.testing.assert_allclose(model.predict(X), model.intercept_ + lags @ lag_weights, rtol=1e-10, atol=1e-12)


def test_stored_seed_predictions_hold_forecasts_only_for_every_test_day():
    predictions = pd.read_csv(RESULTS / "tp-rnn-predictions.csv", parse_dates=["date"])
    assert predictions["date"].is_monotonic_increasing and predictions["date"].is_unique
    assert {"HAR", "GARCH(1,1)", "Linear regression", "LSTM s0", "GRU s0", "MLP s0"} <= set(predictions.columns)
    assert not {"y", "y_test", "abs_return", "close"} & {c.lower() for c in predictions.columns}   # no market data
    assert np.isfinite(predictions.drop(columns="date").to_numpy()).all()
    scores = pd.read_csv(RESULTS / "tp-rnn-seeds.csv")
    assert len(predictions) > 1000 and (predictions["date"] >= "2019-01-01").all()
    assert set(scores["model"]) >= {"HAR", "GARCH(1,1)", "LSTM", "GRU"}


def test_stored_sequential_cost_has_every_model_and_length():
    cost = pd.read_csv(RESULTS / "sequential_cost.csv")
    assert set(cost["model"]) == {"LSTM", "Conv1D", "Conv1D x2 (matched)"}
    for model, group in cost.groupby("model"):
        assert sorted(group["T"]) == [25, 50, 100, 200, 400, 800], model
    assert (cost["ms"] > 0).all()
