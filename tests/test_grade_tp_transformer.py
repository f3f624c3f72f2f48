"""The transformer TP: its data, its trusted checks on hand-made artifacts (references equal to Keras's layers,
honest and wrong answers), then a class graded by ``dl4f tp grade``'s engine (honest, partly wrong and hostile
submissions, sandboxed, in one ``grade_class`` call with 2 workers and the instructor's quick setting of 1 epoch),
and the site pages of the TP.

The data are real: the 20 stocks of skfolio's dataset, from the course's cache; probes are drawn from a seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import submissions_tp_transformer as corpus
import tp_course

from dl4f import assignments
from dl4f import tp_transformer as tpt
from dl4f_grading import engine, sandbox
from dl4f_grading import tp_transformer as grader

ROOT = Path(__file__).resolve().parents[1]
TP = "tp-transformer"
SEED = 5


@pytest.fixture(scope="module")
def secrets():
    return grader.regenerate_secrets(SEED)


# ----------------------------------------------------------------------------------------------------
# Data


def test_panel_rows_are_the_stocks_past_days_and_the_next_day():
    days = pd.bdate_range("2020-01-01", periods=40)
    rng = np.random.default_rng(0)
    abs_r = pd.DataFrame(np.abs(rng.normal(size=(40, 3))), index=days, columns=["A", "B", "C"])
    X, asset, y, dates = tpt.panel(abs_r, window=5)
    assert X.shape == (35 * 3, 5, 2) and list(asset[:4]) == [0, 1, 2, 0]
    r = 3 * 10 + 2  # target day 15 (the 11th), stock C
    assert dates[r] == days[15] and y[r] == abs_r.iloc[15, 2]
    assert np.allclose(X[r, :, 0], abs_r.iloc[10:15, 2]) and np.allclose(X[r, :, 1], abs_r.iloc[10:15].mean(axis=1))
    assert dates.is_monotonic_increasing
    with pytest.raises(ValueError, match="too few"):
        tpt.panel(abs_r.iloc[:5], window=5)


def test_the_split_is_chronological_on_real_stocks(stocks):
    data = tpt.load_data()
    assert data.X_train.shape[1:] == (22, 2) and len(data.X_test) == len(data.y_test) == len(data.asset_test)
    assert data.dates_train.max() < pd.Timestamp(tpt.TEST_START) <= data.dates_test.min()
    assert set(np.unique(data.asset_test)) == set(range(20))
    # the last window day of a test row is the day before its target: the stock's own return, in percent
    k = 1234
    stock, day = tpt.TICKERS[data.asset_test[k]], data.dates_test[k]
    before = data.abs_returns.index[data.abs_returns.index.get_loc(day) - 1]
    assert data.X_test[k, -1, 0] == pytest.approx(data.abs_returns.loc[before, stock], rel=1e-6)
    assert data.y_test[k] == pytest.approx(data.abs_returns.loc[day, stock])
    with pytest.raises(ValueError, match="empty"):
        tpt.load_data(test_start="2030-01-01")


def test_copy_weights_reshapes_a_flat_layout_and_refuses_another_order():
    import keras

    keras_layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    x = np.random.default_rng(1).normal(size=(2, 4, 5)).astype("float32")
    keras_layer(x, x)
    flat = [np.zeros((5, 6)), np.zeros(6)] * 3 + [np.zeros((6, 5)), np.zeros(5)]

    class Flat(keras.layers.Layer):
        def build(self, shape):
            for k, w in enumerate(flat):
                self.add_weight(shape=w.shape, name=f"w{k}")

        def call(self, x):
            return x

    layer = Flat()
    layer(x)
    tpt.copy_weights(layer, keras_layer.get_weights())
    assert np.array_equal(layer.get_weights()[0], keras_layer.get_weights()[0].reshape(5, 6))
    with pytest.raises(ValueError, match="Keras's order"):
        tpt.copy_weights(layer, keras_layer.get_weights()[::-1])
    with pytest.raises(ValueError, match="8 weights, 7 were given"):
        tpt.copy_weights(layer, keras_layer.get_weights()[:7])


# ----------------------------------------------------------------------------------------------------
# The grader's references are Keras's layers


def test_the_reference_attention_is_keras_multi_head_attention(secrets):
    import keras

    for p in secrets["mha"]:
        layer = keras.layers.MultiHeadAttention(num_heads=p["num_heads"], key_dim=p["key_dim"])
        q, v = p["query"].astype("float32"), p["value"].astype("float32")
        layer(q, v)
        layer.set_weights([p[k].astype("float32") for k in grader.MHA_WEIGHTS])
        causal = p["kind"] == "causal"
        got = np.asarray(layer(q, v, use_causal_mask=causal))
        ref = grader.mha_reference(p["query"], p["value"], p, causal=causal)
        assert np.max(np.abs(got - ref)) < 1e-5 * max(1, np.max(np.abs(ref))), p["kind"]
    assert {p["kind"] for p in secrets["mha"]} == {"causal", "self", "cross"}
    cross = next(p for p in secrets["mha"] if p["kind"] == "cross")
    assert cross["value"].shape[1] != cross["query"].shape[1] or SEED != 5  # lengths differ for this seed


def test_the_reference_encoding_is_the_chapters_and_probes_differ_by_student(secrets):
    from dl4f.attention import PositionalEncoding

    layer = PositionalEncoding()
    layer.build((None, 30, 12))
    assert np.allclose(layer.encoding, grader.positional_encoding_reference(30, 12), atol=1e-6)
    other = grader.regenerate_secrets(SEED + 1)
    assert secrets["pe"][0] == other["pe"][0] == (22, 16) and secrets["pe"][1:] != other["pe"][1:]
    assert np.array_equal(secrets["mha"][0]["wq"], other["mha"][0]["wq"])  # the public probe is everyone's
    assert not np.array_equal(secrets["mha"][1]["query"], other["mha"][1]["query"])


# ----------------------------------------------------------------------------------------------------
# The checks, on hand-made artifacts


def _post_ln_block(x, num_heads, key_dim, ff_dim, *, causal=True, residual=True):
    import keras

    attended = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=key_dim)(x, x, use_causal_mask=causal)
    y = keras.layers.LayerNormalization()(x + attended if residual else attended)
    hidden = keras.layers.Dense(ff_dim, activation="relu")(y)
    return keras.layers.LayerNormalization()(y + keras.layers.Dense(x.shape[-1])(hidden))


def _embed(window, asset, d, n, *, with_pe=True):
    import keras

    tokens = keras.layers.Dense(d)(window)
    if with_pe:
        tokens = tokens + grader.positional_encoding_reference(window.shape[1], d).astype("float32")
    return tokens + keras.ops.expand_dims(keras.layers.Embedding(n, d)(asset), 1)


def _honest_artifacts(folder: Path, secrets: dict, block=_post_ln_block, embed=_embed) -> Path:
    import keras

    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "pe.npz", **{f"pe_{i}": grader.positional_encoding_reference(*size)
                                   for i, size in enumerate(secrets["pe"])})
    att = {}
    for i, p in enumerate(secrets["attention"]):
        att[f"out_{i}"], att[f"weights_{i}"] = grader.attention_reference(p["q"], p["k"], p["v"], p.get("mask"))
    np.savez(folder / "attention.npz", **att)
    mha = {}
    for i, p in enumerate(secrets["mha"]):
        mha[f"out_{i}"] = grader.mha_reference(p["query"], p["value"], p, causal=p["kind"] == "causal")
        if p["kind"] == "causal":
            mha[f"future_{i}"] = grader.mha_reference(p["x_future"], p["x_future"], p, causal=True)
    np.savez(folder / "mha.npz", **mha)
    for i, (length, d, h, dk, ff) in enumerate(secrets["block"]):
        x = keras.Input((length, d))
        keras.Model(x, block(x, h, dk, ff)).save(folder / f"block_{i}.keras")
    for i, (length, features, d, n) in enumerate(secrets["embed"]):
        window, asset = keras.Input((length, features)), keras.Input((), dtype="int32")
        keras.Model([window, asset], embed(window, asset, d, n)).save(folder / f"embed_{i}.keras")
    np.savez(folder / "har.npz", features=grader.har_reference(secrets["har"]),
             coef=np.array([0.1, 0.2, 0.3, 0.0, 0.1, 0.2]), intercept=np.array([0.3]))
    return folder


SOURCE = '''
import keras
from keras import ops

def scaled_dot_product_attention(query, key, value, mask=None):
    return ops.softmax(ops.matmul(query, ops.swapaxes(key, -1, -2))), None

class MyMultiHeadAttention(keras.layers.Layer):
    def call(self, query, value, key=None, use_causal_mask=False):
        return scaled_dot_product_attention(query, value, value)[0]
'''
ARRAY_CELLS = ["q1_tests", "q1_positional", "q1_embedding", "q2_tests", "q2_attention", "q2_equals_keras",
               "q2_causal", "q3_tests", "q3_block", "q3_causal"]


def test_a_correct_answer_passes_and_each_mistake_fails_with_its_reason(tmp_path, secrets):
    folder = _honest_artifacts(tmp_path / "a", secrets)
    verdicts = grader.judge(folder, SOURCE, SEED, False, ARRAY_CELLS)
    assert all(v["passed"] for v in verdicts.values()), verdicts

    # sin and cos swapped; no 1/sqrt(d_k); a causal layer that leaks the next day
    length, d = secrets["pe"][2]
    pe = dict(np.load(folder / "pe.npz"))
    pe["pe_2"] = grader.positional_encoding_reference(length, d)[:, ::-1]
    np.savez(folder / "pe.npz", **pe)
    att = dict(np.load(folder / "attention.npz"))
    p = secrets["attention"][1]
    att["out_1"], att["weights_1"] = grader.attention_reference(p["q"] * np.sqrt(p["q"].shape[-1]), p["k"], p["v"])
    np.savez(folder / "attention.npz", **att)
    mha = dict(np.load(folder / "mha.npz"))
    k = next(i for i, p in enumerate(secrets["mha"]) if i > 0 and p["kind"] == "causal")
    p = secrets["mha"][k]
    mha[f"future_{k}"] = mha[f"out_{k}"].copy()
    mha[f"future_{k}"][:, p["s"]] += 0.01
    np.savez(folder / "mha.npz", **mha)
    verdicts = grader.judge(folder, SOURCE, SEED, False, ARRAY_CELLS)
    assert "in column 2i" in verdicts["q1_positional"]["message"] and verdicts["q1_tests"]["passed"]
    assert "the weights softmax(q k^T / sqrt(d_k))" in verdicts["q2_attention"]["message"]
    assert "looks into the future" in verdicts["q2_causal"]["message"]
    assert verdicts["q2_equals_keras"]["passed"] and verdicts["q3_block"]["passed"]


def test_a_masked_key_with_weight_fails_and_the_static_check_refuses_keras_attention(tmp_path, secrets):
    folder = _honest_artifacts(tmp_path / "b", secrets)
    att = dict(np.load(folder / "attention.npz"))
    p = secrets["attention"][2]  # causal
    att["out_2"], att["weights_2"] = grader.attention_reference(p["q"], p["k"], p["v"], None)
    np.savez(folder / "attention.npz", **att)
    wrapped = SOURCE.replace("class MyMultiHeadAttention(keras.layers.Layer)",
                             "class MyMultiHeadAttention(keras.layers.MultiHeadAttention)")
    assert "must be 0" in grader.judge(folder, SOURCE, SEED, False, ["q2_attention"])["q2_attention"]["message"]
    verdicts = grader.judge(folder, wrapped, SEED, False, ["q2_attention", "q2_equals_keras", "q2_tests"])
    assert "derives from keras.layers.MultiHeadAttention" in verdicts["q2_equals_keras"]["message"]
    assert "attention's equations" in verdicts["q2_attention"]["message"]  # a ready-made attention in Q2: no point
    # the visible test is judged with its question's rules too: a ready-made attention earns nothing there either
    assert "derives from keras.layers.MultiHeadAttention" in verdicts["q2_tests"]["message"]


@pytest.mark.parametrize(("variant", "expected"), [
    ({"causal": False}, "not causal"),
    ({"residual": False}, "differs from an encoder block"),
])
def test_a_block_that_is_not_causal_or_has_no_residual_fails(tmp_path, secrets, variant, expected):
    def block(x, h, dk, ff):
        return _post_ln_block(x, h, dk, ff, **variant)

    folder = _honest_artifacts(tmp_path / "c", secrets, block=block)
    verdicts = grader.judge(folder, SOURCE, SEED, False, ["q3_tests", "q3_block", "q3_causal"])
    assert expected in verdicts["q3_block"]["message"] and expected in verdicts["q3_tests"]["message"]
    # causality is credited only to a block that is one (an identity, or a block without residual, earns nothing)
    assert not verdicts["q3_causal"]["passed"] and expected in verdicts["q3_causal"]["message"]


def test_a_block_with_its_activation_as_a_layer_passes(tmp_path):
    import keras

    x = keras.Input((6, 8))
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x, use_causal_mask=True)
    y = keras.layers.LayerNormalization()(keras.layers.Add()([x, attended]))
    hidden = keras.layers.Activation("gelu")(keras.layers.Dense(16)(y))
    out = keras.layers.LayerNormalization()(keras.layers.Add()([y, keras.layers.Dense(8)(hidden)]))
    keras.Model(x, out).save(tmp_path / "block.keras")
    model = grader.art.load_model(tmp_path, "block.keras")
    assert grader.check_block(model, 6, 8, "block") == "post-LN"
    grader.check_block_causal(model, 6, 8, "block")


def test_the_test_inputs_follow_each_models_input_structure(tmp_path):
    import keras

    def head(window, asset):
        stock = keras.layers.Flatten()(keras.layers.Embedding(20, 3)(asset))
        return keras.layers.Dense(1)(keras.layers.Concatenate()([keras.layers.Flatten()(window), stock]))

    window, scalar, column = keras.Input((22, 2)), keras.Input((), dtype="int32"), keras.Input((1,), dtype="int32")
    models = {"dict": keras.Model({"w": window, "a": scalar}, head(window, scalar)),
              "list": keras.Model([column, window], head(window, column)),
              "window only": keras.Sequential([keras.Input((22, 2)), keras.layers.Flatten(), keras.layers.Dense(1)])}
    X = np.random.default_rng(0).normal(size=(7, 22, 2)).astype("float32")
    asset = np.arange(7, dtype="int32")
    for name, model in models.items():
        model.save(tmp_path / "m.keras")
        reloaded = grader.art.load_model(tmp_path, "m.keras")
        expected = model.predict(grader.model_inputs(model, X, asset), verbose=0)
        assert np.allclose(grader._predict(reloaded, X, asset), expected.reshape(-1), atol=1e-6), name


def test_an_embedding_without_positions_fails(tmp_path, secrets):
    def embed(window, asset, d, n):
        return _embed(window, asset, d, n, with_pe=False)

    folder = _honest_artifacts(tmp_path / "d", secrets, embed=embed)
    verdict = grader.judge(folder, SOURCE, SEED, False, ["q1_embedding"])["q1_embedding"]
    assert "Dense(window) + PE + Embedding(asset)" in verdict["message"]


def test_forged_links_and_bad_arrays_are_refused(tmp_path, secrets):
    folder = tmp_path / "forged"
    folder.mkdir()
    (folder / "pe.npz").symlink_to("/etc/passwd")
    (folder / "block_1.keras").write_text("not a zip")
    np.savez(folder / "mha.npz", out_1=np.array(["x"]))
    verdicts = grader.judge(folder, SOURCE, SEED, False, ["q1_positional", "q3_block", "q2_equals_keras", "q9"])
    assert "regular file" in verdicts["q1_positional"]["message"]
    assert "not a model saved by Keras" in verdicts["q3_block"]["message"]
    assert "not numbers" in verdicts["q2_equals_keras"]["message"]
    assert "no check" in verdicts["q9"]["message"] and not any(v["passed"] for v in verdicts.values())


# ----------------------------------------------------------------------------------------------------
# A class graded in the sandbox


@pytest.fixture(scope="module")
def graded(tmp_path_factory, stocks):
    settings = engine.Settings(epochs=1, limits=sandbox.Limits(seconds=300, memory_gb=6), cell_timeout=120)
    return tp_course.grade_corpus(tmp_path_factory.mktemp("course"), TP, corpus, settings)


def test_every_submission_gets_what_its_honest_work_earns(graded):
    tp_course.assert_scores(graded["results"], corpus.EXPECTED)


def test_partial_and_hostile_work_say_what_went_wrong(graded):
    results = graded["results"]
    noncausal = results["noncausal"]["cells"]
    assert "looks into the future" in noncausal["q2_causal"]["message"]
    assert "not causal" in noncausal["q3_block"]["message"]
    assert noncausal["q4_transformer"]["passed"] and noncausal["q2_attention"]["passed"]
    assert "attention's equations" in results["wrapper"]["cells"]["q2_equals_keras"]["message"]
    assert "derives from keras.layers.MultiHeadAttention" in results["wrapper"]["cells"]["q2_tests"]["message"]
    identity = results["identity"]["cells"]
    # causality is credited only to a block that is an encoder block: the identity fails both for the same reason
    assert not identity["q3_causal"]["passed"] and identity["q3_causal"]["message"] == identity["q3_block"]["message"]
    assert "an encoder block has one MultiHeadAttention" in identity["q3_block"]["message"]
    oracle = results["oracle"]["cells"]["q4_transformer"]  # refused when reloaded, or never exported
    assert not oracle["passed"] and ("Keras's" in oracle["message"] or "was not produced" in oracle["message"])
    forge = results["forge"]["cells"]
    # it replaces the export (an assignment into a course module): the whole notebook waits for the instructor
    assert all("needs review" in v["message"] and "export_artifacts" in v["message"] for v in forge.values())


def test_autograded_notebooks_hold_no_hidden_test_code(graded):
    tp_course.assert_autograded_clean(graded["root"], TP, "PASSED (4/4 points)")


# ----------------------------------------------------------------------------------------------------
# The site


def test_the_tp_pages_are_on_the_site_and_the_student_version_is_clean():
    tps = tp_course.assert_tp_pages(TP, "chapters/building-blocks", "Essential Building Blocks of Modern Neural Networks",
                                    hidden_cells=10)
    assert [c["href"] for c in tps] == ["chapters/building-blocks/tp-transformer.qmd"]  # corrected: when published
    assert str(assignments.CORRECTED[TP]) not in [c["href"] for c in tps]


def test_every_graded_cell_of_the_source_has_a_trusted_check():
    tp_course.assert_source_is_gradable(TP, grader)
    assert grader.RECIPE_EPOCHS == tpt.RECIPE["epochs"]
