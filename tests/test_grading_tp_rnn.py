"""The trusted side of the RNN TP's grading, piece by piece: composing the notebook to run, reading artifacts as
untrusted data, the structure and R² checks on reloaded models, and the student's scan guard (``dl4f.scan_guard``).
"""

import json
import os

import keras
import lstm_variants
import nbformat
import numpy as np
import pytest

import dl4f  # noqa: F401  (sets KERAS_BACKEND before keras)
from dl4f import models, scan_guard, training
from dl4f_grading import compose
from dl4f_grading import keras_artifacts as art
from dl4f_grading import tp_rnn as g


@pytest.fixture(scope="module")
def release():
    from pathlib import Path

    return nbformat.read(Path(__file__).resolve().parents[1] / "exercises" / "tp-rnn" / "tp-rnn.ipynb", as_version=4)


def _cells(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


# ----------------------------------------------------------------------------------------------------
# compose


def test_compose_takes_answers_and_added_cells_from_the_submission_and_everything_else_from_the_release(release):
    sub = compose.read_submission(nbformat.writes(release).encode())
    cells = _cells(sub)
    cells["q2_answer"].source = "def build_gru():\n    return 'mine'"
    cells["q1_tests"].source = "print('all tests passed')"
    sub.cells = [c for c in sub.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "q3_tests"]
    k = next(i for i, c in enumerate(sub.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "q2_answer")
    sub.cells.insert(k + 1, nbformat.v4.new_code_cell("helper = 42"))
    composed = compose.compose(release, compose.read_submission(nbformat.writes(sub).encode()))
    out = _cells(composed.notebook)
    assert out["q2_answer"].source == "def build_gru():\n    return 'mine'"
    assert out["q1_tests"].source == _cells(release)["q1_tests"].source  # restored
    assert out["q3_tests"].source == _cells(release)["q3_tests"].source  # re-inserted
    sources = [c.source for c in composed.notebook.cells]
    assert sources.index("helper = 42") == sources.index(out["q2_answer"].source) + 1
    assert "cell q1_tests was modified: the original was run instead" in composed.notes
    assert "cell q3_tests was deleted: the original was run instead" in composed.notes
    assert "helper = 42" in compose.code_cells(composed)


@pytest.mark.parametrize("raw, message", [
    (b"\x00\xff\xfe", "not valid JSON"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
    (b'{"cells": [{"cell_type": "evil", "source": ""}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
     "not code, markdown or raw"),
    (b" " * (compose.MAX_BYTES + 1), "over the"),
])
def test_unreadable_submissions_are_refused_with_the_reason(raw, message):
    with pytest.raises(compose.UnreadableSubmission, match=message):
        compose.read_submission(raw)


# ----------------------------------------------------------------------------------------------------
# artifacts


def test_artifacts_must_be_regular_files_inside_the_folder(tmp_path):
    (tmp_path / "ok.json").write_text("{}")
    os.symlink("/etc/passwd", tmp_path / "link.json")
    (tmp_path / "folder.json").mkdir()
    assert art.read_json(tmp_path, "ok.json") == {}
    for name, message in (("link.json", "not a regular file"), ("folder.json", "not a regular file"),
                          ("missing.json", "was not produced"), ("../ok.json", "invalid artifact name")):
        with pytest.raises(art.BadArtifact, match=message):
            art.read_json(tmp_path, name)


def test_only_models_made_of_keras_layers_are_loaded(tmp_path):
    keras.utils.set_random_seed(0)
    models.lstm().save(tmp_path / "ok.keras")
    model = art.load_model(tmp_path, "ok.keras")
    g.check_recurrent(model, "LSTM", 1)

    @keras.saving.register_keras_serializable(package="student")
    class Oracle(keras.Sequential):
        def predict(self, X, *args, **kwargs):
            return np.zeros(len(X))

    Oracle([keras.Input((200, 1)), keras.layers.LSTM(4), keras.layers.Dense(1)]).save(tmp_path / "oracle.keras")
    with pytest.raises(art.BadArtifact, match="not Keras's"):
        art.load_model(tmp_path, "oracle.keras")
    lam = keras.Sequential([keras.Input((200,)), keras.layers.Lambda(lambda x: x[:, :1])])
    lam.save(tmp_path / "lambda.keras")
    with pytest.raises(art.BadArtifact, match="Lambda"):
        art.load_model(tmp_path, "lambda.keras")
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(art.BadArtifact, match="not a model saved by Keras"):
        art.load_model(tmp_path, "junk.keras")


# ----------------------------------------------------------------------------------------------------
# structure and R² (on models as reloaded by the grader)


def _reloaded(model, tmp_path, name="m"):
    model.save(tmp_path / f"{name}.keras")
    return art.load_model(tmp_path, f"{name}.keras")


def test_structure_checks_accept_correct_writings(tmp_path):
    g.check_recurrent(_reloaded(models.lstm(), tmp_path), "LSTM", 1)
    g.check_recurrent(_reloaded(models.gru_2layer(), tmp_path), "GRU", 2)
    g.check_mlp(_reloaded(models.mlp(), tmp_path))
    inp = keras.Input((200,))
    x = keras.layers.Reshape((200, 1))(inp)
    out = keras.layers.Dense(1, activation="linear")(keras.layers.LSTM(100)(x))
    g.check_recurrent(_reloaded(keras.Model(inp, out), tmp_path), "LSTM", 1)


def _seq(*layers_):
    return keras.Sequential([keras.Input((200, 1)), *layers_])


@pytest.mark.parametrize("model, n_layers, message", [
    (lambda: _seq(keras.layers.LSTM(50), keras.layers.Dense(1)), 1, "100 units"),
    (lambda: _seq(keras.layers.LSTM(100, return_sequences=True), keras.layers.Dense(1)), 1, "last hidden state"),
    (lambda: _seq(keras.layers.LSTM(100), keras.layers.Dense(1, activation="relu")), 1, "linear"),
    (lambda: _seq(keras.layers.GRU(100), keras.layers.Dense(1)), 1, "expected layers"),
    (lambda: _seq(keras.layers.LSTM(100), keras.layers.Dense(1)), 2, "expected layers"),
    (lambda: _seq(keras.layers.LSTM(100, go_backwards=True), keras.layers.Dense(1)), 1, "forward in time"),
])
def test_structure_checks_catch_wrong_models(model, n_layers, message):
    with pytest.raises(AssertionError, match=message):
        g.check_recurrent(model(), "LSTM", n_layers)


def test_mlp_check_catches_depth_and_activation():
    with pytest.raises(AssertionError, match="relu"):
        g.check_mlp(keras.Sequential([keras.Input((200,)), *[keras.layers.Dense(100, activation="tanh")
                                                               for _ in range(3)], keras.layers.Dense(1)]))
    with pytest.raises(AssertionError, match="4 Dense"):
        g.check_mlp(models.mlp(depth=2))


def test_r2_is_computed_by_the_grader_on_its_own_test_split(tp_data, tmp_path):
    linear, _ = training.fit(models.linear_regression, tp_data.X_train, tp_data.y_train)
    np.savez(tmp_path / "model_linear.npz", coef=linear.coef_, intercept=np.array([linear.intercept_]))
    ctx = g.Context(tmp_path, "", {}, quick=False)
    assert g.linear_r2(ctx) == pytest.approx(0.24583, abs=1e-4)
    keras.utils.set_random_seed(0)
    models.mlp().save(tmp_path / "model_mlp.keras")  # untrained
    with pytest.raises(AssertionError, match="below"):
        g.check_r2(ctx, "model_mlp")
    np.savez(tmp_path / "model_linear.npz", coef=np.ones(3), intercept=np.zeros(1))
    with pytest.raises(AssertionError, match="200 coefficients"):
        g.Context(tmp_path, "", {}, quick=False).linear()


def test_thresholds_cover_every_model_and_the_quick_ones_are_lower():
    assert set(g.R2_THRESHOLDS) == set(g.MODEL_NAMES.values()) | {"Linear regression"}
    assert all(g.QUICK_R2_THRESHOLDS[k] <= v for k, v in g.R2_THRESHOLDS.items())


# ----------------------------------------------------------------------------------------------------
# the student's scan guard (dl4f.scan_guard)


def test_unrolls_tells_a_python_loop_from_scan():
    assert scan_guard.unrolls(lstm_variants.LoopLSTM)
    assert not scan_guard.unrolls(lstm_variants.FusedLSTM)


def test_scan_driven_layer_computes_what_the_loop_computes():
    layer = lstm_variants.LoopLSTM(4)
    x = np.random.default_rng(0).normal(size=(3, 12, 1)).astype("float32")
    expected = np.asarray(layer(x))
    np.testing.assert_allclose(np.asarray(scan_guard.ScanDriven(layer)(x)), expected, atol=1e-6)


def test_scan_if_unrolled_swaps_only_loop_layers():
    def build(cls):
        return lambda: keras.Sequential([keras.Input((20, 1)), cls(4), keras.layers.Dense(1)])

    swapped = scan_guard.scan_if_unrolled(build(lstm_variants.LoopLSTM))()
    assert isinstance(swapped.layers[0], scan_guard.ScanDriven)
    kept = scan_guard.scan_if_unrolled(build(lstm_variants.FusedLSTM))()
    assert isinstance(kept.layers[0], lstm_variants.FusedLSTM)


def test_the_autograded_notebook_is_built_from_the_composed_notebook_not_the_sandboxs_copy(release):
    from pathlib import Path

    from dl4f_grading import engine

    source = nbformat.read(Path(__file__).resolve().parents[1] / "solutions" / "tp-rnn" / "tp-rnn.ipynb", as_version=4)
    composed = compose.compose(release, compose.read_submission(nbformat.writes(release).encode())).notebook
    executed = nbformat.from_dict(json.loads(nbformat.writes(composed)))
    first_code = next(k for k, c in enumerate(executed.cells) if c.cell_type == "code")
    executed.cells[first_code].outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<script>steal()</script>", "text/plain": "ok"}),
        nbformat.v4.new_output("stream", name="stdout", text="printed"),
    ]
    forged = copy_with_forged_cell(executed)
    graded = engine.graded_cells(source)
    result = {"graded": graded, "status": "graded", "detail": "", "notes": [], "score": 0.0, "max_score": 30.0,
              "cells": {c["grade_id"]: {"passed": False, "points": 0.0, "max": c["points"], "message": "no"}
                        for c in graded}}
    nb = engine.autograded_notebook(composed, executed, source, result)
    text = nbformat.writes(nb)
    assert "<script>" not in text and "printed" in text and "ok" in text
    assert "hidden_test(" not in text
    nb = engine.autograded_notebook(composed, forged, source, result)
    assert "I passed everything" not in nbformat.writes(nb)


def copy_with_forged_cell(nb):
    forged = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    forged.cells.insert(0, nbformat.v4.new_code_cell("# I passed everything"))
    return forged


def test_each_graded_cell_appears_once_in_the_autograded_notebook(release):
    from collections import Counter
    from pathlib import Path

    from dl4f_grading import engine

    source = nbformat.read(Path(__file__).resolve().parents[1] / "solutions" / "tp-rnn" / "tp-rnn.ipynb", as_version=4)
    composed = compose.compose(release, compose.read_submission(nbformat.writes(release).encode())).notebook
    graded = engine.graded_cells(source)
    assert any(c["hidden"] for c in graded)
    result = {"graded": graded, "status": "graded", "detail": "", "notes": [], "score": 0.0, "max_score": 30.0,
              "cells": {c["grade_id"]: {"passed": False, "points": 0.0, "max": c["points"], "message": "no"}
                        for c in graded}}
    nb = engine.autograded_notebook(composed, None, source, result)
    ids = Counter(c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells)
    assert {c["grade_id"]: ids[c["grade_id"]] for c in graded} == {c["grade_id"]: 1 for c in graded}
    verdicts = nbformat.writes(nb).count("FAILED (")
    assert verdicts == len(graded)
