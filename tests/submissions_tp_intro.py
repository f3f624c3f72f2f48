"""Submissions of the introductory TP written as a class would write them: honest, partly wrong, and hostile.

``build(student_version, source)`` returns ``{student: bytes}``. Honest: the solution (``full``) and a correct
solution written differently (``different``: ``np.clip`` and ``einsum`` in NumPy, ``model.add``, ``Series.asof``
for the VIX, ``keras.layers.concatenate``, a layer that applies its activation by name, a loop without ``jit`` that
updates with ``jax.tree_util``). Partly wrong: ``lookahead`` (the VIX of the target's own day). Hostile ones start
from the untouched student version (their honest work earns 0): a model whose ``predict`` returns the test targets
read from the cache, monkeypatching NumPy, Keras and the export, forging the artifacts from the grader's input
files. ``EXPECTED`` says what each must get.
"""

from __future__ import annotations

import copy

import nbformat
import tp_course
from tp_course import after as _after
from tp_course import solution_answers


def _late(nb, code: str):
    """``nb`` with a code cell added at its end (after the last cell), as a student adds one."""
    nb = copy.deepcopy(nb)
    nb.cells.append(nbformat.v4.new_code_cell(code))
    return nb

DIFFERENT_Q1 = '''
def mlp_forward(X, W1, b1, W2, b2):
    X = np.atleast_2d(np.asarray(X, dtype="float64"))
    z = np.einsum("nd,dh->nh", X, W1) + b1
    return np.clip(z, 0, None) @ np.reshape(W2, (-1, 1)) + b2
'''

DIFFERENT_Q2 = '''
def build_mlp(window=tpi.WINDOW, hidden=tpi.HIDDEN):
    model = keras.Sequential(name="mlp")
    model.add(keras.Input(shape=(window,)))
    model.add(keras.layers.Dense(hidden))
    model.layers[-1].activation = keras.activations.relu
    model.add(keras.layers.Dense(1, activation="linear"))
    return model


keras.utils.set_random_seed(0)
model_mlp = build_mlp()
model_mlp.compile(keras.optimizers.Adam(learning_rate=tpi.learning_rate()), loss=keras.losses.MeanSquaredError())
model_mlp.fit(data.X_train, data.y_train, **tpi.fit_kwargs())
model_linear = LinearRegression()
model_linear.fit(pd.DataFrame(data.X_train), data.y_train)
'''

DIFFERENT_Q3 = '''
def vix_before(vix, dates):
    return vix.asof(pd.DatetimeIndex(dates) - pd.Timedelta(hours=1)).to_numpy()  # the last close before midnight


def build_two_inputs(window=tpi.WINDOW, hidden=tpi.HIDDEN):
    inputs = [keras.Input((window,)), keras.Input((1,))]
    hidden_layer = keras.layers.Dense(hidden, activation=keras.activations.relu)(keras.layers.concatenate(inputs))
    return keras.Model(inputs=inputs, outputs=keras.layers.Dense(1)(hidden_layer))


V_train = tpi.VIX_SCALE * vix_before(vix, data.dates_train).reshape(-1, 1)
V_test = tpi.VIX_SCALE * vix_before(vix, data.dates_test).reshape(-1, 1)
keras.utils.set_random_seed(0)
model_vix = build_two_inputs()
model_vix.compile(optimizer=keras.optimizers.Adam(tpi.learning_rate()), loss="mean_squared_error")
model_vix.fit([data.X_train, V_train], data.y_train, **tpi.fit_kwargs())
'''

DIFFERENT_Q4 = '''
class MyDense(keras.layers.Layer):
    def __init__(self, units, activation=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.units, self.activation_name = units, activation

    def build(self, input_shape):
        self.w = self.add_weight(shape=(int(input_shape[-1]), self.units), initializer="random_normal")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, x):
        out = keras.ops.add(keras.ops.dot(x, self.w), self.b)
        if self.activation_name is None:
            return out
        return keras.activations.get(self.activation_name)(out)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation_name}
'''

DIFFERENT_Q5 = '''
def _mse(model, weights, X, y):
    y_pred, _ = model.stateless_call(weights, model.non_trainable_weights, X)
    return keras.ops.mean(keras.ops.square(y_pred[:, 0] - y))


def loss_and_grads(model, trainable, X, y):
    loss, grads = jax.value_and_grad(lambda w: _mse(model, w, X, y))(list(trainable))
    return loss, grads


def fit_by_hand(model, X, y, epochs, batch_size, learning_rate):
    weights, history = [v.value for v in model.trainable_variables], []
    for epoch in range(epochs):
        seen, total = 0, 0.0
        while seen < len(X):
            xb, yb = X[seen:seen + batch_size], y[seen:seen + batch_size]
            loss, grads = loss_and_grads(model, weights, xb, yb)
            weights = jax.tree_util.tree_map(lambda w, g: w - learning_rate * g, weights, grads)
            total, seen = total + float(loss) * len(xb), seen + len(xb)
        history.append(total / len(X))
    for v, w in zip(model.trainable_variables, weights):
        v.assign(w)
    return history
'''

# The VIX of the target's own day: known only at its close, after the forecast is made.
LOOKAHEAD_VIX = '''
def vix_before(vix, dates):
    return vix.reindex(pd.DatetimeIndex(dates)).ffill().bfill().to_numpy()
'''

# A model whose predictions are the test targets, read from the data cache inside the sandbox.
CHEAT_PREDICT = '''
import dl4f.tp_intro as _tpi


class Oracle(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        return self.dense(x)

    def predict(self, x, **kwargs):
        return _tpi.load_data().y_test[: len(x)].reshape(-1, 1)


model_mlp = Oracle()
model_mlp(np.zeros((1, tpi.WINDOW), "float32"))
model_vix = model_mlp
build_mlp = build_two_inputs = lambda *args: model_mlp
'''

MONKEYPATCH = '''
# Make every test pass without doing the work.
import sys
import numpy
import keras
import dl4f.tp_intro_artifacts as _art
numpy.allclose = lambda *args, **kwargs: True
keras.Model.predict = lambda self, x, **kwargs: numpy.zeros((len(x), 1))
_art._floats = lambda value: numpy.zeros(3)
_art._mlp = lambda *args: None
for name in list(sys.modules):
    if "grading" in name:
        module = sys.modules[name]
        for attr in dir(module):
            if attr.startswith(("check", "judge", "_q", "_close")):
                setattr(module, attr, lambda *args, **kwargs: "passed")
def neuter(lines):
    text = "".join(lines)
    return ["pass\\n"] if ("assert" in text or "NotImplementedError" in text) else lines
get_ipython().input_transformers_post.append(neuter)
'''

# Write artifacts from the grader's input files (the initial weights as "trained", the same day's VIX, zeros),
# stop the real export, and leave links and broken files.
FORGE = '''
import json as _json, os as _os
import numpy as _np
import dl4f.tp_intro_artifacts as _art
def _forged(namespace, out_dir, inputs_dir):
    _os.makedirs(out_dir, exist_ok=True)
    t = dict(_np.load(f"{inputs_dir}/train.npz"))
    _np.savez(f"{out_dir}/q5.npz", losses=_np.zeros(2), **{f"trained_{n}": t[n] for n in ("W1", "b1", "W2", "b2")})
    v = dict(_np.load(f"{inputs_dir}/vix.npz"))
    same_day = _np.interp(v["queries"].astype("int64"), v["dates"].astype("int64"), v["values"])
    _np.savez(f"{out_dir}/q3.npz", values=same_day)
    _np.savez(f"{out_dir}/q1.npz", **{f"out_{i}": _np.zeros((64, 1)) for i in range(4)})
    for name in ("model_mlp.keras", "model_vix.keras", "build_mlp.keras", "q4.npz"):
        _os.symlink("/etc/passwd", f"{out_dir}/{name}")
    open(f"{out_dir}/model_linear.npz", "w").write("not an npz")
    open(f"{out_dir}/q4_config.json", "w").write(_json.dumps({"1": {"units": 3, "activation": None}}))
    return {}
_art.export_artifacts = _forged
'''

# Names resolved at run time (issue 16): a Dense made from its name inside MyDense, and fit called through a
# computed attribute name. The whole notebook goes to the instructor's review: nothing is credited until then.
DYNAMIC_Q4 = '''
class MyDense(keras.layers.Layer):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation_name = units, activation
        self.inner = keras.layers.deserialize({"class_name": "De" + "nse",
                                               "config": {"units": units, "activation": activation}})

    def build(self, input_shape):
        self.inner.build(input_shape)

    def call(self, x):
        return self.inner(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation_name}
'''

# An honest loss_and_grads, shared by the Question 5 submissions below (only their fit_by_hand differs).
HONEST_LOSS_AND_GRADS = '''
def loss_and_grads(model, trainable, X, y):
    def loss_fn(weights):
        y_pred, _ = model.stateless_call(weights, [], X)
        return jnp.mean((jnp.reshape(y_pred, (-1,)) - jnp.reshape(y, (-1,))) ** 2)
    return jax.value_and_grad(loss_fn)(trainable)

'''

DYNAMIC_Q5 = HONEST_LOSS_AND_GRADS + '''
def fit_by_hand(model, X, y, epochs, batch_size, learning_rate):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    train = getattr(model, "".join(["f", "i", "t"]))
    return train(X, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0).history["loss"]
'''

# Keras's ops in the NumPy question (the visible test is judged with its question's rules), and a fit_by_hand that
# trains with a NumPy chain rule: the string "value_and_grad" is not JAX's gradient.
KERAS_Q1 = '''
def mlp_forward(X, W1, b1, W2, b2):
    return np.asarray(keras.ops.relu(keras.ops.matmul(X, W1) + b1) @ W2 + b2)
'''

STRING_Q5 = HONEST_LOSS_AND_GRADS + '''
def fit_by_hand(model, X, y, epochs, batch_size, learning_rate):
    method = "jax.value_and_grad"  # only a string
    W1, b1, W2, b2 = [np.asarray(w, dtype="float64") for w in model.get_weights()]
    X, y, losses = np.asarray(X, "float64"), np.asarray(y, "float64").reshape(-1), []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, len(X), batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            z = xb @ W1 + b1
            h = np.maximum(z, 0)
            err = (h @ W2 + b2).reshape(-1) - yb
            total += float(np.mean(err ** 2)) * len(xb)
            d = (2.0 / len(err)) * err[:, None]
            dh = (d @ W2.T) * (z > 0)
            W1, b1, W2, b2 = (W1 - learning_rate * xb.T @ dh, b1 - learning_rate * dh.sum(0),
                              W2 - learning_rate * h.T @ d, b2 - learning_rate * d.sum(0))
        losses.append(total / len(X))
    model.set_weights([w.astype("float32") for w in (W1, b1, W2, b2)])
    return losses
'''

# A correct answer written in a cell added at the end instead of the answer cell: answers count only in their cells.
LATE_Q1 = '''
def mlp_forward(X, W1, b1, W2, b2):
    return np.maximum(X @ W1 + b1, 0) @ W2 + b2
'''


def build(student_version: nbformat.NotebookNode, source: nbformat.NotebookNode) -> dict[str, bytes]:
    answers = solution_answers(source)
    blank = copy.deepcopy(student_version)

    def with_answers(changes: dict):
        return tp_course.with_answers(student_version, changes)

    q3_rest = answers["q3_answer"].split("def build_two_inputs")[1]
    out = {
        "full": with_answers(answers),
        "different": with_answers({**answers, "q1_answer": DIFFERENT_Q1, "q2_answer": DIFFERENT_Q2,
                                   "q3_answer": DIFFERENT_Q3, "q4_answer": DIFFERENT_Q4, "q5_answer": DIFFERENT_Q5}),
        "blank": blank,
        "lookahead": with_answers({**answers, "q3_answer": LOOKAHEAD_VIX + "\n\ndef build_two_inputs" + q3_rest}),
        "oracle": _after(blank, "setup", CHEAT_PREDICT),
        "monkeypatch": _after(blank, "setup", MONKEYPATCH),
        "forge": _after(blank, "setup", FORGE),
        "dynamic": with_answers({"q4_answer": DYNAMIC_Q4, "q5_answer": DYNAMIC_Q5}),
        "strings": with_answers({"q1_answer": KERAS_Q1, "q5_answer": STRING_Q5}),
        "late_cell": _late(blank, LATE_Q1),
    }
    return {name: nbformat.writes(nb).encode() for name, nb in out.items()}


# What each must get: total points, and the status of its run.
EXPECTED = {
    "full": (30, "graded"),
    "different": (30, "graded"),
    "blank": (0, "graded"),
    # loses q3_alignment and q3_tests, whose Monday assertion is kept (the grader scores model_vix on its own VIX)
    "lookahead": (27, "graded"),
    "oracle": (0, "graded"),
    "monkeypatch": (0, "graded"),
    "forge": (0, "graded"),
    "dynamic": (0, "graded"),  # honest work would earn Q4 and Q5 (12): needs review, 0 until then
    "strings": (3, "graded"),  # q5_tests, q5_gradient only: Q1 uses Keras (4 before), fit_by_hand no JAX (3 before)
    "late_cell": (0, "graded"),  # a correct mlp_forward outside its answer cell (6 before)
}
