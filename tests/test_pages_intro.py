"""The formulas and claims of the introduction's chapters (autodiff, backends, gpus, keras-fundamentals, keras-ops,
activations, training-fundamentals), checked against code: small, fast, no market data, no training.

The pages themselves are executed by ``tests/test_site.py``; here each formula a page states (or an exercise's
answer relies on) is recomputed independently, and the structure every chapter shares (an ``## Exercises`` section
with answers) is checked.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax before keras is imported)
from dl4f import activations, baselines, evaluation, hardware
from dl4f import tp_intro as tpi

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["autodiff", "backends", "gpus", "keras-fundamentals", "keras-ops", "activations", "training-fundamentals"]


# --------------------------------------------------------------------------- structure of the pages


@pytest.mark.parametrize("page", PAGES)
def test_page_ends_with_exercises_and_their_answers(page):
    text = (ROOT / "chapters" / "intro" / f"{page}.qmd").read_text()
    assert "\n## Exercises\n" in text, f"{page}.qmd has no '## Exercises' section"
    exercises = text.split("\n## Exercises\n", 1)[1]
    assert "\n## " not in exercises, f"{page}.qmd: '## Exercises' must be the last section"
    numbered = re.findall(r"^(\d+)\. ", exercises, flags=re.MULTILINE)
    assert 3 <= len(numbered) <= 6 and numbered == [str(k) for k in range(1, len(numbered) + 1)]
    assert exercises.count('{.callout-tip collapse="true" title="Answer"}') == len(numbered)


@pytest.mark.parametrize("page", PAGES)
def test_page_has_no_control_character_and_inline_code_on_one_line(page):
    text = (ROOT / "chapters" / "intro" / f"{page}.qmd").read_text()
    bad = re.findall(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", text)
    assert not bad, f"{page}.qmd holds control characters {bad!r} (a '\\a' or '\\b' eaten in a string?)"
    inline_broken = re.search(r"(?<!`)`\{python\}[ \t]*\n", text)                  # not a ```{python} chunk
    assert not inline_broken, f"{page}.qmd: an inline expression starts on the next line"


# --------------------------------------------------------------------------- gpus.qmd


def test_lstm_costs_about_201_times_the_mlp_per_window():
    """gpus.qmd: FLOPs of MLP 20-100-100-100-1 on 200 days against LSTM(100) -> Dense(1), by the page's formulas."""
    mlp = sum(hardware.dense_flops(1, a, b) for a, b in [(200, 100), (100, 100), (100, 100), (100, 1)])
    lstm = hardware.lstm_flops(1, 200, 1, 100) + hardware.dense_flops(1, 100, 1)
    assert mlp == 2 * (200 * 100 + 100 * 100 + 100 * 100 + 100)
    assert lstm == 200 * 2 * (1 + 100) * 4 * 100 + 2 * 100
    assert lstm / mlp == pytest.approx(201.5, rel=1e-3)


def test_intensity_of_an_lstm_step_is_about_half_the_batch_for_small_batches():
    """gpus.qmd (exercise 3): a (B, d+u) x (d+u, 4u) product in float32 has intensity ~ B/2 when B << u."""
    for batch in (1, 2, 8, 64):
        exact = 2 * batch * 101 * 400 / (4 * (batch * 101 + 101 * 400 + batch * 400))
        assert hardware.matmul_intensity(batch, 101, 400) == pytest.approx(exact, rel=1e-9)
    for batch in (1, 2):
        assert hardware.matmul_intensity(batch, 101, 400) == pytest.approx(batch / 2, rel=0.05)
    assert hardware.matmul_intensity(512, 512, 512) == pytest.approx(512 / 6, rel=1e-9)


# --------------------------------------------------------------------------- keras-ops.qmd


def test_mixed_policy_keeps_losses_and_variables_in_float32_but_not_softmax():
    """keras-ops.qmd: under mixed_bfloat16 a Softmax computes in bfloat16 unless given dtype="float32"."""
    x = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        default, forced = keras.layers.Softmax(), keras.layers.Softmax(dtype="float32")
        dense = keras.layers.Dense(3)
        out_default, out_forced, _ = default(x), forced(x), dense(x)
        loss = keras.losses.MeanSquaredError()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert default.compute_dtype == "bfloat16" and str(out_default.dtype) == "bfloat16"
    assert forced.compute_dtype == "float32" and str(out_forced.dtype) == "float32"
    assert dense.kernel.dtype == "float32" and dense.compute_dtype == "bfloat16"
    assert loss.dtype == "float32"


def test_bfloat16_spacing_above_one_is_two_to_the_minus_seven():
    """keras-ops.qmd (exercise 4): 1 + 1e-3 rounds to 1 in bfloat16."""
    one_plus = keras.ops.cast(keras.ops.convert_to_tensor(1.0 + 1e-3), "bfloat16")
    assert float(keras.ops.cast(one_plus, "float32")) == pytest.approx(1.0, abs=1e-12)
    two_to_minus_7 = keras.ops.cast(keras.ops.convert_to_tensor(1.0 + 2.0**-7), "bfloat16")
    assert float(keras.ops.cast(two_to_minus_7, "float32")) == pytest.approx(1.0 + 2.0**-7, abs=1e-12)


# --------------------------------------------------------------------------- autodiff.qmd


def test_baselines_garch_is_zero_mean_on_the_raw_returns():
    """autodiff.qmd: dl4f.baselines fits a zero-mean GARCH(1,1) and does not demean the returns."""
    rng = np.random.default_rng(0)
    n, omega, alpha, beta = 800, 0.05, 0.08, 0.9
    r, s2 = np.empty(n), omega / (1 - alpha - beta)
    for t in range(n):
        r[t] = 0.3 + math.sqrt(s2) * rng.standard_normal()  # a mean of 0.3 that the model must NOT remove
        s2 = omega + alpha * (r[t] - 0.3) ** 2 + beta * s2
    returns = pd.Series(r / 100, index=pd.bdate_range("2001-01-01", periods=n))
    fit = baselines.fit_garch(returns, returns.index[-100])
    assert list(fit.params.index) == ["omega", "alpha[1]", "beta[1]"]  # no "mu": the mean is fixed at 0
    assert type(fit.model).__name__ == "ZeroMean"


# --------------------------------------------------------------------------- keras-fundamentals.qmd


def test_ewma_weights_sum_and_half_life():
    """keras-fundamentals.qmd (exercise 2): sum (1-lam) lam^k = 1 - lam^T; half-life log(1/2)/log(lam)."""
    lam, T = 0.94, 200
    weights = (1 - lam) * lam ** np.arange(T)
    assert weights.sum() == pytest.approx(1 - lam**T, rel=1e-12)
    half_life = math.log(0.5) / math.log(lam)
    assert lam**half_life == pytest.approx(0.5, rel=1e-12)
    assert half_life == pytest.approx(11.2, abs=0.01)


def test_parameter_counts_of_the_page_and_its_exercise():
    """keras-fundamentals.qmd: 3,233 parameters for Dense(16) on 200 days; 353 (+3) on 20; 1,988 in exercise 3."""
    def mlp(days, units):
        return keras.Sequential([keras.Input((days,)), keras.layers.Dense(units, activation="relu"),
                                 keras.layers.Dense(1)])

    assert mlp(200, 16).count_params() == 3233
    assert mlp(20, 16).count_params() + 3 == 356
    assert mlp(60, 32).count_params() + 3 == 1988


# --------------------------------------------------------------------------- activations.qmd


def test_activation_derivative_values_and_ranges_of_the_table():
    z = np.linspace(-6, 6, 24001)
    at_zero = {name: float(activations.derivative(name, np.array([0.0]))[0]) for name in activations.ACTIVATIONS}
    assert at_zero == pytest.approx({"sigmoid": 0.25, "tanh": 1.0, "relu": 0.0, "gelu": 0.5, "softplus": 0.5},
                                    abs=1e-6)
    gelu = activations.derivative("gelu", z)
    # GELU'' = phi(z) (2 - z^2): extremes at z = -+sqrt(2), Phi(-+sqrt 2) -+ sqrt(2) phi(sqrt 2) = -0.129, 1.129
    phi, Phi = math.exp(-1) / math.sqrt(2 * math.pi), 0.5 * (1 + math.erf(1.0))
    low, high = 1 - Phi - math.sqrt(2) * phi, Phi + math.sqrt(2) * phi
    assert gelu.min() == pytest.approx(low, abs=1e-4) and gelu.max() == pytest.approx(high, abs=1e-4)
    assert round(low, 2) == pytest.approx(-0.13, abs=1e-9) and round(high, 2) == pytest.approx(1.13, abs=1e-9)
    sigmoid = activations.derivative("sigmoid", z)
    assert sigmoid.max() == pytest.approx(0.25, abs=1e-6)
    # tanh(z) = 2 sigmoid(2z) - 1  =>  tanh'(z) = 4 sigmoid'(2z)   (exercise 2)
    assert np.allclose(activations.derivative("tanh", z[::100]), 4 * activations.derivative("sigmoid", 2 * z[::100]),
                       atol=1e-6)


def test_he_variance_keeps_the_second_moment_of_a_relu_layer():
    """activations.qmd (exercise 3): E[relu(z)^2] = Var(z)/2 for symmetric z, so Var(W) = 2 / n_in keeps it."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal(400_000) * 1.7
    assert np.mean(np.maximum(z, 0) ** 2) == pytest.approx(1.7**2 / 2, rel=0.01)
    n_in = 256
    a = np.maximum(rng.standard_normal((2000, n_in)), 0)               # ReLU outputs of a unit-variance layer
    W = rng.normal(0, math.sqrt(2 / n_in), (n_in, 256))
    assert np.var(a @ W) == pytest.approx(1.0, rel=0.05)


# --------------------------------------------------------------------------- training-fundamentals.qmd


def test_out_of_sample_r2_is_at_least_the_test_r2_and_the_training_mean_formula():
    """training-fundamentals.qmd (exercise 4)."""
    rng = np.random.default_rng(1)
    y = rng.gamma(2.0, 0.5, 500)
    forecast = y + rng.normal(0, 0.7, 500)
    train_mean = 0.8
    assert evaluation.oos_r2(y, forecast, train_mean) >= evaluation.r2(y, forecast)
    expected = -len(y) * (y.mean() - train_mean) ** 2 / np.sum((y - y.mean()) ** 2)
    assert evaluation.r2(y, np.full(len(y), train_mean)) == pytest.approx(expected, rel=1e-9)
    assert evaluation.oos_r2(y, np.full(len(y), train_mean), train_mean) == pytest.approx(0.0, abs=1e-12)


def test_sgd_step_multiplies_the_residual_of_its_window():
    """training-fundamentals.qmd (exercise 2): one batch-1 step scales the residual by 1 - 2 eta |z|^2."""
    rng = np.random.default_rng(2)
    z, theta, y, eta = rng.normal(size=21), rng.normal(size=21), 0.7, 0.003
    after = theta - eta * 2 * z * (z @ theta - y)
    assert (z @ after - y) == pytest.approx((1 - 2 * eta * z @ z) * (z @ theta - y), rel=1e-12)


# --------------------------------------------------------------------------- tp-intro's corrected page


def test_calibration_results_of_the_intro_tp(tmp_path):
    results = tpi.calibration_results()
    assert results is not None, f"{tpi.CALIBRATION_CSV} is missing: run benchmarks/calibrate_tp_intro.py"
    assert {"Linear regression", "MLP", "MLP + VIX"} <= set(results.model)
    recipe = results[results.epochs == tpi.RECIPE["epochs"]]
    assert recipe.groupby("model").seed.nunique().min() >= 5
    assert tpi.calibration_results(tmp_path / "absent.csv") is None
    (tmp_path / "bad.csv").write_text("model,seed\nMLP,0\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        tpi.calibration_results(tmp_path / "bad.csv")


def test_absolute_normal_return_has_a_standard_deviation_of_076_times_its_mean():
    """training-fundamentals.qmd: |r| for r ~ N(0, s^2): mean s sqrt(2/pi), sd sqrt(pi/2 - 1) times the mean."""
    r = np.abs(np.random.default_rng(3).normal(0, 1.3, 1_000_000))
    assert r.mean() == pytest.approx(1.3 * math.sqrt(2 / math.pi), rel=0.005)
    assert r.std() / r.mean() == pytest.approx(math.sqrt(math.pi / 2 - 1), rel=0.005)
    assert math.sqrt(math.pi / 2 - 1) == pytest.approx(0.76, abs=0.005)
