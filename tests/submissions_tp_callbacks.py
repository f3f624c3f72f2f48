"""Submissions of the callbacks TP written as a class would write them: honest, partly wrong, and hostile.

``build(student_version, source)`` returns ``{student: bytes}``. Honest: the solution (``full``) and a correct
solution written differently (``different``: callbacks built step by step with positional arguments, a recorder
that keeps the previous epoch's weights instead of snapshotting at ``on_epoch_begin``, a QLIKE stopper that calls
the model directly and counts epochs since its best one). Partly wrong: ``late_stop`` (stops one epoch after its
patience ran out). Hostile ones start from the untouched student version (their honest work earns 0):
monkeypatching Keras, NumPy and the grading code; forging the artifacts; callbacks that read the grader's input
files to answer; an exit. ``EXPECTED`` says what each must get.
"""

from __future__ import annotations

import copy

import nbformat
import tp_course
from tp_course import after as _after
from tp_course import solution_answers

DIFFERENT_Q1 = '''
def make_callbacks(kind):
    callbacks = []
    if kind in ("early_stopping", "both"):
        callbacks.append(keras.callbacks.EarlyStopping("val_loss", 0, tpc.PATIENCE, mode="min",
                                                       restore_best_weights=True))
    if kind in ("reduce_lr", "both"):
        callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", tpc.LR_FACTOR, tpc.LR_PATIENCE, mode="min",
                                                           min_lr=tpc.MIN_LR))
    return callbacks
'''

DIFFERENT_Q2 = '''
class TrainingRecorder(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.history = {"learning_rate": [], "update_norm": []}
        self.previous = [np.array(w, dtype="float64") for w in self.model.get_weights()]

    def on_epoch_end(self, epoch, logs=None):
        current = [np.array(w, dtype="float64") for w in self.model.get_weights()]
        squares = sum(float(np.sum((a - b) ** 2)) for a, b in zip(current, self.previous))
        self.previous = current
        self.history["update_norm"].append(squares ** 0.5)
        self.history["learning_rate"].append(float(np.asarray(self.model.optimizer.learning_rate)))
'''

DIFFERENT_Q3 = '''
class QLikeEarlyStopping(keras.callbacks.Callback):
    def __init__(self, validation_data, patience=tpc.PATIENCE, restore_best_weights=True):
        super().__init__()
        self.validation_data = validation_data
        self.patience, self.restore_best_weights = patience, restore_best_weights

    def on_train_begin(self, logs=None):
        self.scores, self.snapshots, self.stopped_epoch, self.best_epoch = [], {}, None, None

    def on_epoch_end(self, epoch, logs=None):
        X, y = self.validation_data
        forecast = np.asarray(keras.ops.convert_to_numpy(self.model(X, training=False))).ravel()
        self.scores.append(tpc.qlike(y, forecast))
        self.best_epoch = int(np.argmin(self.scores))
        if self.best_epoch == epoch:
            self.snapshots = {epoch: [w.copy() for w in self.model.get_weights()]}
        elif epoch - self.best_epoch >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_epoch in self.snapshots:
            self.model.set_weights(self.snapshots[self.best_epoch])
'''

# Keep training one epoch after the patience ran out (wait > patience instead of >=).
LATE_STOP = ("        if self.wait >= self.patience:", "        if self.wait > self.patience:")

MONKEYPATCH = '''
# Make every test pass without doing the work.
import os, sys
import numpy
import keras
import dl4f.tp_callbacks_artifacts as _art
os.environ["DL4F_TP_EPOCHS"] = "1"
numpy.allclose = lambda *args, **kwargs: True
numpy.isfinite = lambda x: numpy.ones(numpy.shape(x), dtype=bool)
keras.callbacks.EarlyStopping.on_epoch_end = lambda self, epoch, logs=None: None
_art.drive = lambda callbacks, weights, lrs, logs=None: {"epochs": numpy.array(3), "stop": numpy.array(2),
                                                         "lr_after": numpy.zeros(3), "final": numpy.zeros(3)}
for name in list(sys.modules):
    if "grading" in name:
        module = sys.modules[name]
        for attr in dir(module):
            if attr.startswith(("check", "judge", "_q", "q3_")):
                setattr(module, attr, lambda *args, **kwargs: "passed")


def neuter(lines):
    text = "".join(lines)
    return ["pass\\n"] if ("assert" in text or "NotImplementedError" in text) else lines


get_ipython().input_transformers_post.append(neuter)
'''

# Write the artifacts from the grader's input file (the scripted learning rates, the norms of the scripted
# weights, a stop at the lowest loss), untrained models, and stop the real export; then links and broken files.
FORGE = '''
import json as _json, os as _os
import numpy as _np
import dl4f.tp_callbacks_artifacts as _art
from dl4f import tp_callbacks as _tpc


def _forged(namespace, out_dir, inputs_dir):
    _os.makedirs(out_dir, exist_ok=True)
    s = dict(_np.load(f"{inputs_dir}/scripts.npz"))
    arrays = {}
    for k in range(int(s["n_q2"])):
        arrays[f"q2_{k}_learning_rate"] = s[f"q2_{k}_log_lr"]
        arrays[f"q2_{k}_update_norm"] = _np.linalg.norm(s[f"q2_{k}_weights"][1:], axis=1)
    for k in range(int(s["n_q3"])):
        stop = int(_np.argmin(s[f"q3_{k}_weights"][1:, 0]))
        arrays.update({f"q3_{k}_epochs": _np.array(stop + 1), f"q3_{k}_stop": _np.array(stop),
                       f"q3_{k}_final": s[f"q3_{k}_weights"][stop + 1], f"q3_{k}_scores": _np.zeros(stop + 1)})
    _np.savez(f"{out_dir}/driven.npz", **arrays)
    for name in ("model_none", "model_early_stopping", "model_qlike"):
        _tpc.build_model(seed=1).save(f"{out_dir}/{name}.keras")
    history = {"loss": [1.0] * 5, "val_loss": [0.2] * 5, "learning_rate": [0.003] * 5}
    _json.dump({k: history for k in (*_tpc.KINDS, "history_recorded", "history_qlike")},
               open(f"{out_dir}/histories.json", "w"))
    _json.dump({"recorder": {"learning_rate": [0.003] * 5, "update_norm": [1.0] * 5},
                "stopper": {"scores": [0.1] * 5}}, open(f"{out_dir}/records.json", "w"))
    _os.symlink("/etc/passwd", f"{out_dir}/model_both.keras")
    open(f"{out_dir}/model_reduce_lr.keras", "w").write("not a model")
    return {}


_art.export_artifacts = _forged
'''

# Callbacks that answer from the grader's input file (read when the export drives them), nothing else.
PEEK = '''
def _script():
    return dict(np.load("inputs/scripts.npz"))


class TrainingRecorder(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        s = _script()
        key = next(k for k in s if k.endswith("log_lr") and k.startswith("q2_"))
        self.history = {"learning_rate": list(10.0 ** s[key]), "update_norm": [1.0] * len(s[key])}


class QLikeEarlyStopping(keras.callbacks.Callback):
    def __init__(self, validation_data, patience=5, restore_best_weights=True):
        super().__init__()
        self.scores = list(_script().get("q3_0_y", [])[:3])
'''

EXIT = "import os\nos._exit(0)\n"

# ReduceLROnPlateau watching the training loss: in the scripted trainings `loss` keeps falling while `val_loss`
# turns, so it never reduces where Keras's callback on val_loss does (issue 16: loss was 0.9 * val_loss).
MONITOR_LOSS = ('reduce = keras.callbacks.ReduceLROnPlateau(monitor="val_loss"',
                'reduce = keras.callbacks.ReduceLROnPlateau(monitor="loss"')

# An early stopping that scores the test split, whatever it is given: the grader's own run of the TP's model stops
# on it too, so its test QLIKE is credited only with the validation QLIKE scored right (q3_scores).
TEST_PEEK = '''
class QLikeEarlyStopping(keras.callbacks.Callback):
    def __init__(self, validation_data, patience=tpc.PATIENCE, restore_best_weights=True):
        super().__init__()
        test = tpc.load_data()
        self.X, self.y = test.X_test, test.y_test
        self.patience, self.restore_best_weights = patience, restore_best_weights

    def on_train_begin(self, logs=None):
        self.scores, self.best, self.best_epoch, self.wait, self.best_weights = [], np.inf, -1, 0, None

    def on_epoch_end(self, epoch, logs=None):
        score = tpc.qlike(self.y, tpc.predict(self.model, self.X))
        self.scores.append(score)
        if score < self.best:
            self.best, self.best_epoch, self.wait, self.best_weights = score, epoch, 0, self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
'''


def build(student_version: nbformat.NotebookNode, source: nbformat.NotebookNode) -> dict[str, bytes]:
    answers = solution_answers(source)
    blank = copy.deepcopy(student_version)

    def with_answers(changes: dict):
        return tp_course.with_answers(student_version, changes)

    assert LATE_STOP[0] in answers["q3_answer"] and MONITOR_LOSS[0] in answers["q1_answer"]
    out = {
        "full": with_answers(answers),
        "different": with_answers({"q1_answer": DIFFERENT_Q1, "q2_answer": DIFFERENT_Q2, "q3_answer": DIFFERENT_Q3}),
        "late_stop": with_answers({**answers, "q3_answer": answers["q3_answer"].replace(*LATE_STOP)}),
        "blank": blank,
        "monkeypatch": _after(blank, "setup", MONKEYPATCH),
        "forge": _after(blank, "setup", FORGE),
        "peek": with_answers({"q2_answer": PEEK}),
        "exits": with_answers({"q1_answer": EXIT}),
        "monitor_loss": with_answers({**answers, "q1_answer": answers["q1_answer"].replace(*MONITOR_LOSS)}),
        "test_peek": with_answers({"q3_answer": TEST_PEEK}),
    }
    raw = {name: nbformat.writes(nb).encode() for name, nb in out.items()}
    raw["not_json"] = b'{"cells": [ this is not json'
    return raw


# What each must get: total points, and the status of its run.
EXPECTED = {
    "full": (30, "graded"),
    "different": (30, "graded"),
    "late_stop": (27, "graded"),  # loses q3_stops (3) only: it restores correctly over the epochs it ran
    "blank": (0, "graded"),
    "monkeypatch": (0, "graded"),
    "forge": (0, "graded"),
    "peek": (0, "graded"),
    "exits": (0, "dead"),
    "not_json": (0, "unreadable"),
    "monitor_loss": (27, "graded"),  # loses q1_behaviour (3), which it kept when loss was 0.9 * val_loss
    "test_peek": (0, "graded"),  # q3_model (2 before) is the grader's run, credited with q3_scores only
}
