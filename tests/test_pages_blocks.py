"""The formulas and the stored results that the building-blocks pages state, checked against the code.

Fast: no market-data training. Each test names the page (and exercise) whose statement it checks.
"""

import math
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: before keras)
# isort: on
import keras
import numpy as np
import pandas as pd
import pytest

from dl4f import attention, blocks, embeddings, evaluation, seq2seq, tcn

RESULTS = Path(__file__).resolve().parents[1] / "chapters" / "building-blocks" / "results"


# --------------------------------------------------------------------------- residual.qmd


def test_glorot_relu_network_halves_the_mean_square_per_square_layer():
    """residual.qmd: with Glorot (v = 1/n for a square layer) and ReLU, E||h_l||^2 = 1/2 E||h_{l-1}||^2."""
    keras.utils.set_random_seed(0)
    width, depth = 256, 9                                   # input projection + 8 square layers
    model = blocks.plain_mlp(width, width, depth=depth)
    x = np.random.default_rng(0).normal(size=(512, width)).astype("float32")
    hidden = keras.Model(model.inputs, [layer.output for layer in model.layers[:-1]])
    mean_squares = [float(np.mean(np.asarray(h) ** 2)) for h in hidden.predict(x, verbose=0)]
    assert len(mean_squares) == depth
    ratios = np.array(mean_squares[1:]) / np.array(mean_squares[:-1])
    assert np.allclose(ratios, 0.5, atol=0.15)              # one layer: 1/2 up to sampling noise
    total = mean_squares[-1] / mean_squares[0]
    assert total == pytest.approx(2.0 ** -(depth - 1), rel=0.5)


def test_he_initialisation_keeps_the_mean_square():
    keras.utils.set_random_seed(0)
    width = 256
    model = blocks.plain_mlp(width, width, depth=9, kernel_initializer="he_normal")
    x = np.random.default_rng(0).normal(size=(512, width)).astype("float32")
    hidden = keras.Model(model.inputs, [layer.output for layer in model.layers[:-1]])
    mean_squares = [float(np.mean(np.asarray(h) ** 2)) for h in hidden.predict(x, verbose=0)]
    assert mean_squares[-1] / mean_squares[0] == pytest.approx(1.0, rel=0.5)


def test_closed_grn_gate_stops_the_gradient_of_the_branch():
    """residual.qmd, exercise 4: with the gate's bias at -30, the branch's weights get (almost) no gradient."""
    import jax
    import jax.numpy as jnp

    keras.utils.set_random_seed(2)
    grn = blocks.GRN(8)
    a = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    grn(a)
    target = np.random.default_rng(1).normal(size=(16, 8)).astype("float32")

    def branch_gradient_norm():
        trainable = [v.value for v in grn.trainable_variables]

        def loss(trainable):
            out, _ = grn.stateless_call(trainable, [v.value for v in grn.non_trainable_variables], a)
            return jnp.mean((out - target) ** 2)

        grads = jax.grad(loss)(trainable)
        return max(float(jnp.abs(g).max()) for v, g in zip(grn.trainable_variables, grads, strict=True)
                   if "dense_1" in v.path or "dense_2" in v.path)

    open_gate = branch_gradient_norm()
    grn.glu.gate.bias.assign(np.full(8, -30.0, dtype="float32"))
    closed_gate = branch_gradient_norm()
    assert open_gate > 1e-3
    assert closed_gate < 1e-9 * max(1.0, open_gate)


# --------------------------------------------------------------------------- convolutions.qmd


def test_receptive_field_answers_of_the_convolutions_exercises():
    # exercise 1: kernel 2, two convolutions per block, 7 blocks cover 200 days, 6 do not
    assert tcn.receptive_field(2, [2**i for i in range(7)], convs_per_block=2) == 255
    assert tcn.receptive_field(2, [2**i for i in range(6)], convs_per_block=2) < 200
    # the page's TCN: kernel 3, two convolutions per block, dilations 1..32
    assert tcn.receptive_field(3, [1, 2, 4, 8, 16, 32], convs_per_block=2) == 253
    # exercise 4: 99 % of an EWMA(0.94)'s weight within 75 lags, inside a kernel-2 stack of dilations 1..64
    k = math.ceil(math.log(0.01) / math.log(0.94))
    assert k == 75 and 0.94**k <= 0.01 < 0.94 ** (k - 1)
    assert tcn.receptive_field(2, [2**i for i in range(7)]) == 128 >= k


def test_same_padding_with_an_even_kernel_reads_two_future_days():
    """convolutions.qmd, exercise 2: kernel 4, padding 'same': the first output to move is day 148."""
    window = np.random.default_rng(0).uniform(0.1, 2.0, size=(1, 200, 1)).astype("float32")
    changed = window.copy()
    changed[:, 150:] *= 5.0
    keras.utils.set_random_seed(0)
    layer = keras.layers.Conv1D(4, 4, padding="same")
    moved = np.abs(np.asarray(layer(changed)) - np.asarray(layer(window)))[0].max(axis=1)
    assert int(np.argmax(moved > 0)) == 148


def test_parameter_counts_of_the_convolutions_exercise():
    conv = keras.layers.Conv1D(16, 3)
    conv.build((None, 200, 16))
    lstm = keras.layers.LSTM(16)
    lstm.build((None, 200, 16))
    assert conv.count_params() == 3 * 16 * 16 + 16 == 784
    assert lstm.count_params() == 4 * (16 * 16 + 16 * 16 + 16) == 2112


# --------------------------------------------------------------------------- embeddings.qmd


def test_embedding_and_onehot_parameter_counts_of_the_embeddings_exercise():
    counts = {enc: embeddings.panel_model(10, 20, asset_encoding=enc, asset_dim=4, weekday_dim=2).count_params()
              for enc in ("none", "onehot", "embedding")}
    assert counts["onehot"] - counts["none"] == 20 * 32
    assert counts["embedding"] - counts["none"] == 20 * 4 + 4 * 32


# --------------------------------------------------------------------------- attention.qmd


@pytest.mark.parametrize("heads, key_dim, expected", [(2, 8, 1088), (4, 4, 1088), (4, 8, 2160)])
def test_multi_head_attention_parameter_formula(heads, key_dim, expected):
    d = 16
    layer = attention.MultiHeadAttention(num_heads=heads, key_dim=key_dim)
    x = np.zeros((1, 5, d), dtype="float32")
    layer(x, x)
    assert layer.count_params() == 4 * d * heads * key_dim + 3 * heads * key_dim + d == expected


# --------------------------------------------------------------------------- encoder-decoder.qmd


def test_seq2seq_parameter_counts_of_the_encoder_decoder_exercise():
    lstm = 4 * (16 * 1 + 16 * 16 + 16)
    assert seq2seq.direct_model(44, 5, units=16).count_params() == lstm + 16 * 5 + 5 == 1237
    assert seq2seq.direct_model(44, 20, units=16).count_params() == lstm + 16 * 20 + 20 == 1492
    for horizon in (5, 20):
        assert seq2seq.Seq2Seq(44, horizon, units=16).training_model.count_params() == 2 * lstm + 17 == 2321


def test_ar1_k_step_r2_and_overlapping_errors():
    """encoder-decoder.qmd, exercises 2 and 4: R² of the k-step forecast = phi^(2k); 2-step errors are an MA(1)."""
    rng = np.random.default_rng(0)
    phi, n = 0.8, 200_000
    eps = rng.normal(size=n)
    y = np.zeros(n)
    for t in range(1, n):
        y[t] = phi * y[t - 1] + eps[t]
    y = y[1000:]
    for k in (1, 2, 3):
        forecast = phi**k * y[:-k]
        assert evaluation.r2(y[k:], forecast) == pytest.approx(phi ** (2 * k), abs=0.01)
    errors = y[2:] - phi**2 * y[:-2]                         # 2-step errors, one per origin
    lag1 = np.mean(errors[1:] * errors[:-1])
    assert lag1 == pytest.approx(phi, abs=0.02)              # Cov(e_t, e_t+1) = phi * sigma^2, sigma = 1


# --------------------------------------------------------------------------- stored results


@pytest.mark.parametrize("part", ["residual", "tcn"])
def test_stored_predictions_reproduce_the_stored_scores(part, market_cache):
    """The per-day forecasts the pages test are those whose R² the results table reports (the TP's test days)."""
    from dl4f import tp_rnn

    d = tp_rnn.load_data()
    scores = pd.read_csv(RESULTS / f"{part}_volatility.csv")
    forecasts = pd.read_csv(RESULTS / f"{part}_volatility_predictions.csv", index_col="date", parse_dates=["date"])
    assert forecasts.index.equals(pd.DatetimeIndex(d.test_dates))
    assert forecasts.notna().all().all()
    for row in scores.itertuples():
        column = row.model if pd.isna(row.seed) else f"{row.model}, seed {int(row.seed)}"
        assert evaluation.r2(d.y_test, forecasts[column].to_numpy()) == pytest.approx(row.test_r2, abs=2e-4), column
    assert len(forecasts.columns) == len(scores)
