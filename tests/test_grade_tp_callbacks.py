"""The callbacks TP: its trusted checks on hand-made artifacts, then a class graded by ``dl4f tp grade``'s engine
(honest, partly wrong and hostile submissions, sandboxed, in one ``grade_class`` call with 2 workers, at the
instructor's quick setting of 3 epochs), and the site pages of the TP.

The scripted trainings are drawn from a seed as at grading; the trained models of the class are scored on the
real S&P 500 test split of the course's cache.
"""

from __future__ import annotations

from pathlib import Path

import keras  # conftest sets KERAS_BACKEND
import numpy as np
import pytest
import submissions_tp_callbacks as corpus
import tp_course

from dl4f import tp_callbacks_artifacts as export
from dl4f_grading import engine, sandbox
from dl4f_grading import tp_callbacks as grader

ROOT = Path(__file__).resolve().parents[1]
TP = "tp-callbacks"
SEED = 5
DRIVEN = ["q1_behaviour", "q2_learning_rate", "q2_update_norm", "q3_scores", "q3_stops", "q3_restores"]


class Recorder(keras.callbacks.Callback):
    """A correct TrainingRecorder (the notebook's solution, as a student would write it)."""

    def on_train_begin(self, logs=None):
        self.history = {"learning_rate": [], "update_norm": []}

    def on_epoch_begin(self, epoch, logs=None):
        self.start = np.concatenate([w.ravel() for w in self.model.get_weights()])

    def on_epoch_end(self, epoch, logs=None):
        end = np.concatenate([w.ravel() for w in self.model.get_weights()])
        self.history["learning_rate"].append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        self.history["update_norm"].append(float(np.linalg.norm(end - self.start)))


class Stopper(keras.callbacks.Callback):
    """A correct QLikeEarlyStopping; ``late`` stops one epoch too late, ``restore`` can be ignored."""

    late, obey_restore = False, True

    def __init__(self, validation_data, patience=5, restore_best_weights=True):
        super().__init__()
        self.X, self.y = validation_data
        self.patience, self.restore = patience, restore_best_weights and self.obey_restore

    def on_train_begin(self, logs=None):
        self.scores, self.best, self.wait, self.weights = [], np.inf, 0, None

    def on_epoch_end(self, epoch, logs=None):
        from dl4f import tp_callbacks as tpc

        self.scores.append(tpc.qlike(self.y, self.model.predict(self.X, verbose=0)))
        if self.scores[-1] < self.best:
            self.best, self.wait, self.weights = self.scores[-1], 0, self.model.get_weights()
            return
        self.wait += 1
        if self.wait > self.patience if self.late else self.wait >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore and self.weights is not None:
            self.model.set_weights(self.weights)


def _make_callbacks(kind):
    return grader.reference_callbacks(kind)


def _driven(tmp_path: Path, namespace: dict) -> Path:
    inputs, out = tmp_path / "inputs", tmp_path / "artifacts"
    grader.inputs(SEED, inputs)
    export.export_artifacts(namespace, out, inputs)
    assert not (inputs / "scripts.npz").exists(), "the export deletes the scripts before any callback runs"
    return out


def test_correct_callbacks_pass_the_driven_checks_and_each_mistake_fails_with_its_reason(tmp_path):
    honest = {"make_callbacks": _make_callbacks, "TrainingRecorder": Recorder, "QLikeEarlyStopping": Stopper}
    verdicts = grader.judge(_driven(tmp_path / "a", honest), "", SEED, False, DRIVEN)
    assert all(v["passed"] for v in verdicts.values()), verdicts

    class Late(Stopper):
        late = True

    class Stubborn(Stopper):
        obey_restore = False

    class LateRecorder(Recorder):  # reads the learning rate after the scheduler: one epoch late
        def on_epoch_begin(self, epoch, logs=None):
            super().on_epoch_begin(epoch, logs)
            self.history["learning_rate"].append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

        def on_epoch_end(self, epoch, logs=None):
            end = np.concatenate([w.ravel() for w in self.model.get_weights()])
            self.history["update_norm"].append(float(np.linalg.norm(end)))  # the weights' norm, not the change's

    def wrong_callbacks(kind):  # early stopping that forgets to restore; the scheduler's patience is 1
        return {"none": [], "early_stopping": [keras.callbacks.EarlyStopping(patience=5)],
                "reduce_lr": [keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_lr=1e-5)],
                "both": [keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)]}[kind]

    late = grader.judge(_driven(tmp_path / "b", {"make_callbacks": wrong_callbacks, "TrainingRecorder": LateRecorder,
                                                 "QLikeEarlyStopping": Late}), "", SEED, False, DRIVEN)
    assert not late["q1_behaviour"]["passed"] and "restore_best_weights" in late["q1_behaviour"]["message"]
    assert late["q2_learning_rate"]["passed"]  # the script's rate is the same at the start and the end of an epoch
    assert not late["q2_update_norm"]["passed"] and "w_end - w_start" in late["q2_update_norm"]["message"]
    assert late["q3_scores"]["passed"] and late["q3_restores"]["passed"] and not late["q3_stops"]["passed"]
    assert "expected a stop at epoch" in late["q3_stops"]["message"]
    stubborn = grader.judge(_driven(tmp_path / "c", {"QLikeEarlyStopping": Stubborn}), "", SEED, False,
                            ["q3_stops", "q3_restores", "q1_behaviour"])
    assert stubborn["q3_stops"]["passed"] and "best epoch" in stubborn["q3_restores"]["message"]
    assert "make_callbacks is not defined" in stubborn["q1_behaviour"]["message"]


def test_the_scripts_are_secret_per_student_and_their_answers_are_unambiguous():
    a, b, c = grader.secret_scripts(1), grader.secret_scripts(1), grader.secret_scripts(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.allclose(a["q2_0_weights"], c["q2_0_weights"])
    stops = [grader.q3_expected(grader.script(a, f"q3_{k}")) for k in range(3)]
    assert 0 < stops[0]["stop"] < grader.Q3_EPOCHS - 1 and stops[2]["stop"] == -1  # the last one never stops
    assert stops[0]["best"] == int(np.argmin(grader.q3_scores(grader.script(a, "q3_0"))))
    ref = grader._reference_drive(1, "q1_0", "early_stopping")
    assert 0 < int(ref["stop"]) < grader.Q1_EPOCHS - 1, "the scripted loss must make early stopping fire"
    lr = grader._reference_drive(1, "q1_0", "reduce_lr")["lr_after"]
    assert lr[-1] < lr[0], "the scripted loss must make ReduceLROnPlateau act"


def test_forged_links_and_bad_files_are_refused(tmp_path):
    folder = tmp_path / "forged"
    folder.mkdir()
    (folder / "driven.npz").symlink_to("/etc/passwd")
    (folder / "histories.json").write_text("{not json")
    (folder / "grader_qlike.keras").write_text("not a zip")
    (folder / "model_none.keras").write_text("not a zip")
    verdicts = grader.judge(folder, "", SEED, False, ["q2_update_norm", "q1_tests", "q1_scores", "q3_model", "q9"])
    assert "not a model saved by Keras" in verdicts["q1_scores"]["message"]
    assert "regular file" in verdicts["q2_update_norm"]["message"]
    assert "not valid JSON" in verdicts["q1_tests"]["message"]
    # q3_model first re-checks the callback's scores (driven.npz, a link here): refused before the model is read
    assert "regular file" in verdicts["q3_model"]["message"] and not verdicts["q3_model"]["passed"]
    assert "no check" in verdicts["q9"]["message"] and not any(v["passed"] for v in verdicts.values())


# ----------------------------------------------------------------------------------------------------
# A class graded in the sandbox


@pytest.fixture(scope="module")
def graded(tmp_path_factory, market_cache):
    settings = engine.Settings(epochs=3, limits=sandbox.Limits(seconds=300, memory_gb=6), cell_timeout=120)
    return tp_course.grade_corpus(tmp_path_factory.mktemp("course"), TP, corpus, settings)


def test_every_submission_gets_what_its_honest_work_earns(graded):
    tp_course.assert_scores(graded["results"], corpus.EXPECTED)


def test_partial_and_hostile_work_fail_for_their_reasons(graded):
    results = graded["results"]
    lost = sorted(g for g, v in results["late_stop"]["cells"].items() if not v["passed"])
    assert lost == ["q3_stops"]
    assert "exits" in results and "q1_answer" in results["exits"]["detail"] and "died" in results["exits"]["detail"]
    assert "not valid JSON" in results["not_json"]["detail"]
    forge = results["forge"]["cells"]
    # it replaces the export (an assignment into a course module): the whole notebook waits for the instructor
    assert all("needs review" in v["message"] and "export_artifacts" in v["message"] for v in forge.values())
    peek = results["peek"]["cells"]
    assert "TrainingRecorder could not be driven" in peek["q2_learning_rate"]["message"]
    # it reads the grader's scripts from inputs/, which do not exist while the notebook runs: its callbacks fail
    assert "No such file" in peek["q2_learning_rate"]["message"] and not peek["q3_tests"]["passed"]
    lost = sorted(g for g, v in results["monitor_loss"]["cells"].items() if not v["passed"])
    assert lost == ["q1_behaviour"] and "reduce_lr" in results["monitor_loss"]["cells"]["q1_behaviour"]["message"]
    test_peek = results["test_peek"]["cells"]
    assert not test_peek["q3_model"]["passed"] and "QLikeEarlyStopping" in test_peek["q3_model"]["message"]


def test_autograded_notebooks_hold_no_hidden_test_code(graded):
    tp_course.assert_autograded_clean(graded["root"], TP, "PASSED (3/3 points)")


# ----------------------------------------------------------------------------------------------------
# The site


def test_the_tp_pages_are_on_the_site_and_the_student_version_is_clean():
    tps = tp_course.assert_tp_pages(TP, "chapters/training", "Training a Neural Network")
    hrefs = [c["href"] for c in tps]
    assert hrefs[-1] == "chapters/training/tp-callbacks.qmd"  # its corrected page joins it when published
    assert len({c["text"] for c in tps}) == len(hrefs), "every entry of the section has its own name"


def test_every_graded_cell_of_the_source_has_a_trusted_check():
    tp_course.assert_source_is_gradable(TP, grader)
