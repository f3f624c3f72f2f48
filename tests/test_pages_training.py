"""The formulas of the training module's pages, checked against the code (Keras, dl4f): fast, no market data.

- optimizers.qmd: Adam's bias-corrected first step is eta per weight (the raw ratio m1/sqrt(s1) is
  (1 - beta1)/sqrt(1 - beta2) ~ 3.16 times larger); momentum's step tends to eta g / (1 - mu); AdamW's decay
  shrinks a weight by (1 - eta lambda) per step.
- callbacks.qmd: an absolute min_delta in percent units is min_delta / 1e4 in raw units (exercise 2).
- practical-considerations.qmd: the ensemble identity; the pooled R² is the SST-weighted mean of the per-fold R²
  (so the plain mean is not the pooled score); Keras's inverted dropout; the variance factor of a ReLU layer.
- Every page of the module: stored results readable, exercises present, no control character in the sources.
"""

import re
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from dl4f import callbacks, evaluation

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["training-loop", "optimizers", "callbacks", "practical-considerations"]
RESULTS = ROOT / "chapters" / "training" / "results"


def _apply(opt, theta0, grads):
    variable = keras.Variable(np.asarray(theta0, "float32"))
    opt.build([variable])
    opt_vars, weights = [v.value for v in opt.variables], [variable.value]
    out = []
    for g in grads:
        weights, opt_vars = opt.stateless_apply(opt_vars, [np.asarray(g, "float32")], weights)
        out.append(np.asarray(weights[0], "float64"))
    return out


def test_adam_first_step_is_eta_per_weight_thanks_to_the_bias_correction():
    eta, b1, b2 = 0.01, 0.9, 0.999
    g = np.array([1e-3, -1e-2, 0.1, -1.0, 10.0, -100.0])
    theta1 = _apply(keras.optimizers.Adam(eta, beta_1=b1, beta_2=b2), np.zeros(6), [g])[0]
    np.testing.assert_allclose(theta1, -eta * np.sign(g), rtol=5e-3)  # epsilon matters at the 0.3 % level for 1e-3
    m1, s1 = (1 - b1) * g, (1 - b2) * g**2
    np.testing.assert_allclose(m1 / np.sqrt(s1), (1 - b1) / np.sqrt(1 - b2) * np.sign(g), rtol=1e-12)
    assert (1 - b1) / np.sqrt(1 - b2) == pytest.approx(3.1623, abs=1e-4)  # the page's "about 3.16"


def test_momentum_step_tends_to_eta_g_over_one_minus_mu():
    eta, mu, g = 0.01, 0.9, np.array([0.5, -2.0])
    path = _apply(keras.optimizers.SGD(eta, momentum=mu), np.zeros(2), [g] * 200)
    np.testing.assert_allclose(path[-1] - path[-2], -eta * g / (1 - mu), rtol=1e-4)


def test_adamw_decay_is_one_minus_eta_lambda_per_step_without_gradient():
    eta, lam = 1e-3, 0.1
    path = _apply(keras.optimizers.AdamW(eta, weight_decay=lam), np.ones(3), [np.zeros(3)] * 50)
    np.testing.assert_allclose(path[-1], (1 - eta * lam) ** 50 * np.ones(3), rtol=1e-5)
    assert np.log(2) / -np.log(1 - eta * lam) == pytest.approx(6931, abs=1)  # the page's exercise 4


def test_absolute_min_delta_in_percent_is_min_delta_over_1e4_in_raw_units():
    curve = 4e-5 * np.array([1.3, 1.2, 1.1, 1.05, 1.04, 1.0399, 1.039, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    percent = keras.callbacks.EarlyStopping(min_delta=1e-4, patience=3, restore_best_weights=False)
    raw = keras.callbacks.EarlyStopping(min_delta=1e-8, patience=3, restore_best_weights=False)
    a, b = callbacks.replay([percent], curve * 1e4), callbacks.replay([raw], curve)
    assert len(a) == len(b) and percent.best_epoch == raw.best_epoch


def test_ensemble_mse_is_members_mse_minus_their_disagreement():
    rng = np.random.default_rng(0)
    y = rng.gamma(2.0, 0.4, size=500)
    members = y[:, None] + rng.normal(0.1, 0.3, size=(500, 5))
    mean = members.mean(axis=1)
    lhs = evaluation.mse(y, mean)
    rhs = np.mean((y[:, None] - members) ** 2) - np.mean((members - mean[:, None]) ** 2)
    assert lhs == pytest.approx(rhs, rel=1e-12)
    assert lhs < np.mean([evaluation.mse(y, members[:, k]) for k in range(5)])


def test_pooled_oos_r2_is_the_sst_weighted_mean_of_per_fold_r2_not_the_plain_mean():
    rng = np.random.default_rng(1)
    y = np.concatenate([rng.normal(1, 0.2, 300), rng.normal(1.5, 1.0, 300)])
    f = y + rng.normal(0, 0.5, 600)
    bench = np.full(600, 1.1)
    folds = [slice(0, 300), slice(300, 600)]
    r2s = np.array([evaluation.oos_r2(y[s], f[s], bench[s]) for s in folds])
    sst = np.array([np.sum((y[s] - bench[s]) ** 2) for s in folds])
    pooled = evaluation.oos_r2(y, f, bench)
    assert pooled == pytest.approx(np.sum(r2s * sst) / sst.sum(), rel=1e-12)
    assert abs(pooled - r2s.mean()) > 0.1  # the calm fold's poor score drags the plain mean down
    # the page's exercise 1: SST (1, 9), SSE (1.1, 6)
    assert (1 - 1.1, 1 - 6 / 9) == pytest.approx((-0.1, 0.3333), abs=1e-4)
    assert 1 - 7.1 / 10 == pytest.approx(0.29)


def test_keras_dropout_is_inverted_dropout():
    layer = keras.layers.Dropout(0.2, seed=0)
    out = np.asarray(layer(np.ones((2000, 50), "float32"), training=True))
    assert set(np.unique(out.round(6))) <= {0.0, 1.25}
    assert out.mean() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(np.asarray(layer(np.ones((3, 4), "float32"), training=False)), np.ones((3, 4)))


def test_relu_layer_scales_the_second_moment_by_n_in_s2_over_2():
    rng = np.random.default_rng(0)
    n, s = 64, 0.05
    x = rng.normal(size=(4000, n))
    W = rng.normal(0, s, size=(n, n))
    h = np.maximum(x @ W, 0)
    assert np.mean(h**2) / np.mean(x**2) == pytest.approx(n * s**2 / 2, rel=0.1)


@pytest.mark.parametrize("page", PAGES)
def test_training_pages_end_with_exercises_with_answers_and_have_no_control_characters(page):
    text = (ROOT / "chapters" / "training" / f"{page}.qmd").read_text()
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", text), f"{page}: control character in the source"
    exercises = text.split("\n## Exercises\n")
    assert len(exercises) == 2, f"{page}: one '## Exercises' section"
    assert "\n## " not in exercises[1], f"{page}: the exercises are the last section"
    n = len(re.findall(r"^\d\. ", exercises[1], flags=re.M))
    assert 3 <= n <= 6 and exercises[1].count('title="Answer"') == n


def test_stored_training_results_cover_their_pages():
    runs = pd.read_csv(RESULTS / "optimizers_runs.csv")
    assert set(runs["optimizer"]) == {"SGD", "SGD + momentum", "RMSProp", "Adam", "AdamW"}
    grid = pd.read_csv(RESULTS / "optimizers_lr_grid.csv")
    assert len(grid) == 16 and grid["learning_rate"].nunique() == 4
    fc = pd.read_csv(RESULTS / "optimizers_forecasts.csv")
    assert {"date", "linear regression", "Adam"} <= set(fc.columns) and fc.drop(columns="date").notna().all().all()
    wf = pd.read_csv(RESULTS / "walk_forward_forecasts.csv")
    assert wf["fold"].nunique() == 5 and wf["index"].is_monotonic_increasing and wf["index"].is_unique
    reg = pd.read_csv(RESULTS / "regularisation_forecasts.csv")
    assert all(f"{v} {k}" in reg.columns for v in ("plain", "dropout", "weight decay") for k in range(5))
    sl = pd.read_csv(RESULTS / "scale_leak_forecasts.csv")
    assert {"raw", "percent", "training statistics 0", "full-sample statistics 1"} <= set(sl.columns)
    assert len(sl) == len(reg) == len(fc)
