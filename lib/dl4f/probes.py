"""The sandbox side of Question 4's grading: run a student's ``CustomLSTM`` on given inputs, write arrays.

This module runs INSIDE the sandbox, next to the student's code: it decides nothing. The trusted grader
(``dl4f_grading.lstm_checks``, which never runs student code) writes a *spec* or a *task* (plain dicts of
numpy arrays and ints, shipped as ``.npz`` files), the sandbox calls the two functions below on the
student's class, and the arrays they return travel back to the grader, which judges them:

- ``probe_lstm(layer_cls, spec)`` builds ``layer_cls(units)``, sets EVERY weight variable to random values
  drawn from ``spec["weight_seed"]`` (each variable keeps its shape: the layout does not matter), then
  evaluates ``step`` on the probe batch and ``call`` on short sequences, and folds ``step`` over the same
  sequences from zero states;
- ``train_on_task(layer_cls, task)`` trains ``layer_cls(units) + Dense(1)`` on the task's training pairs for
  a fixed budget, the student's ``step`` driven by ``keras.ops.scan`` (so a loop-written ``call`` trains as
  fast), and predicts the task's test inputs (their targets stay with the grader).

Both record an exception as text under ``"errors"`` (a 1-D array of strings) and go on with the next part,
so one bug costs the checks that need that part only.
"""

from __future__ import annotations

import traceback

import keras
import numpy as np
from keras import ops

from dl4f.scan_guard import ScanDriven, make_layer

__all__ = ["probe_lstm", "train_on_task", "randomize_weights", "save_npz", "load_npz"]


def _error(errors: list, part: str, exc: BaseException) -> None:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (line {last[0].lineno} of {last[0].name})" if last else ""
    errors.append(f"{part}: {type(exc).__name__}: {exc}{where}"[:2000])


def _as_float32(value) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(value), dtype="float32")


def _step(layer, x, h, c) -> tuple[np.ndarray, np.ndarray]:
    out = layer.step(ops.convert_to_tensor(x), ops.convert_to_tensor(h), ops.convert_to_tensor(c))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"step(x_t, h_prev, c_prev) must return a pair (h_t, c_t), got {type(out).__name__}")
    return _as_float32(out[0]), _as_float32(out[1])


def randomize_weights(layer, seed: int, fan_in: int, gain: float = 1.0) -> list[tuple[int, ...]]:
    """Set every floating-point weight of ``layer`` to N(0, (gain / sqrt(fan_in))^2), same shapes; return them.

    In any correct LSTM each weight entry feeds one pre-activation, a sum over ``fan_in = units + features + 1``
    terms (inputs, hidden state, bias): with inputs of order 1 the pre-activations are of order ``gain``.
    """
    rng = np.random.default_rng(seed)
    scale = gain / np.sqrt(fan_in)
    shapes = []
    for var in layer.weights:
        shape = tuple(int(s) for s in var.shape)
        if not np.issubdtype(np.dtype(keras.backend.standardize_dtype(var.dtype)), np.floating):
            continue
        var.assign(rng.normal(0.0, scale, size=shape).astype(keras.backend.standardize_dtype(var.dtype)))
        shapes.append(shape)
    return shapes


def probe_lstm(layer_cls, spec: dict) -> dict[str, np.ndarray]:
    """Run the student's layer on the probes of ``spec`` (see ``dl4f_grading.lstm_checks.make_probe_spec``).

    ``spec`` holds ``units``, ``input_dim``, ``weight_seed``, ``weight_gain`` and the arrays ``x`` (n, d),
    ``h`` (n, u), ``c`` (n, u) (one step each) and ``seq_x`` (m, T, d). Returns ``step_h``, ``step_c``
    (n, u): ``step(x, h, c)``; ``call_h`` (m, u): ``layer(seq_x)``; ``fold_h``, ``fold_c`` (m, T, u): the
    states of ``step`` folded over ``seq_x`` from zeros; ``alt_step_h``, ``alt_step_c``: ``step`` on the first
    ``n_base * n_cell_states`` probes after every weight is drawn again (seed ``weight_seed + 1``);
    ``weight_shapes`` (as text) and ``errors``.
    """
    errors: list[str] = []
    out: dict[str, np.ndarray] = {}
    units, input_dim = int(spec["units"]), int(spec["input_dim"])
    seq_x = np.asarray(spec["seq_x"], dtype="float32")
    layer = None
    try:
        keras.utils.set_random_seed(int(spec["weight_seed"]) % (2**31))
        layer = make_layer(layer_cls, units)
        layer.build((None, seq_x.shape[1], input_dim))
        if not layer.weights:  # weights created lazily at the first call
            layer(seq_x[:1])
        shapes = randomize_weights(layer, int(spec["weight_seed"]), units + input_dim + 1,
                                   float(spec.get("weight_gain", 1.0)))
        out["weight_shapes"] = np.array([str(s) for s in shapes] or [""], dtype=str)
    except Exception as exc:  # noqa: BLE001  (recorded for the grader, which fails the checks that need it)
        _error(errors, "building CustomLSTM(units) and setting its weights", exc)
        layer = None
    if layer is not None:
        try:
            h_new, c_new = _step(layer, np.asarray(spec["x"], "float32"), np.asarray(spec["h"], "float32"),
                                 np.asarray(spec["c"], "float32"))
            out["step_h"], out["step_c"] = h_new, c_new
        except Exception as exc:  # noqa: BLE001
            _error(errors, "step(x_t, h_prev, c_prev) on the probe batch", exc)
        try:
            out["call_h"] = _as_float32(layer(ops.convert_to_tensor(seq_x)))
        except Exception as exc:  # noqa: BLE001
            _error(errors, "calling the layer on sequences (batch, time, features)", exc)
        try:
            batch = seq_x.shape[0]
            h = np.zeros((batch, units), "float32")
            c = np.zeros((batch, units), "float32")
            hs, cs = [], []
            for t in range(seq_x.shape[1]):
                h, c = _step(layer, seq_x[:, t, :], h, c)
                hs.append(h)
                cs.append(c)
            out["fold_h"], out["fold_c"] = np.stack(hs, axis=1), np.stack(cs, axis=1)
        except Exception as exc:  # noqa: BLE001
            _error(errors, "folding step over a sequence from h_0 = c_0 = 0", exc)
        try:  # the same base probes with every weight drawn again: the gates must move
            randomize_weights(layer, int(spec["weight_seed"]) + 1, units + input_dim + 1,
                              float(spec.get("weight_gain", 1.0)))
            rows = int(spec["n_base"]) * int(spec["n_cell_states"])
            h_alt, c_alt = _step(layer, np.asarray(spec["x"], "float32")[:rows],
                                 np.asarray(spec["h"], "float32")[:rows], np.asarray(spec["c"], "float32")[:rows])
            out["alt_step_h"], out["alt_step_c"] = h_alt, c_alt
        except Exception as exc:  # noqa: BLE001
            _error(errors, "step after setting new random weights", exc)
    out["errors"] = np.array(errors, dtype=str)
    return out


def train_on_task(layer_cls, task: dict) -> dict[str, np.ndarray]:
    """Train ``layer_cls(units) + Dense(1)`` on ``task``'s training pairs, predict its test inputs.

    ``task`` (see ``dl4f_grading.lstm_checks.make_teacher_task``) holds ``x_train`` (n, T, d), ``y_train``
    (n,), ``x_test`` (m, T, d) and the budget: ``units``, ``epochs``, ``batch_size``, ``learning_rate``,
    ``seed``; with ``reinit_seed >= 0`` every weight variable is first drawn as in ``randomize_weights`` (the
    same start whatever the layout and initializers), else the student's initial weights are kept.
    Returns ``y_pred`` (m,), ``loss`` (the training loss per epoch) and ``errors``.
    """
    errors: list[str] = []
    out: dict[str, np.ndarray] = {}
    x_train = np.asarray(task["x_train"], "float32")
    y_train = np.asarray(task["y_train"], "float32").reshape(-1, 1)
    x_test = np.asarray(task["x_test"], "float32")
    units = int(task["units"])
    try:
        keras.utils.set_random_seed(int(task["seed"]) % (2**31))
        layer = make_layer(layer_cls, units)
        model = keras.Sequential([keras.Input(x_train.shape[1:]), ScanDriven(layer, units), keras.layers.Dense(1)])
        if int(task.get("reinit_seed", -1)) >= 0:  # the same start for every layout, whatever the student's init
            randomize_weights(layer, int(task["reinit_seed"]), units + x_train.shape[-1] + 1)
        model.compile(optimizer=keras.optimizers.Adam(float(task["learning_rate"])), loss="mse")
        history = model.fit(x_train, y_train, epochs=int(task["epochs"]), batch_size=int(task["batch_size"]),
                            shuffle=True, verbose=0)
        out["loss"] = np.asarray(history.history.get("loss", []), "float32")
        out["y_pred"] = np.asarray(model.predict(x_test, batch_size=len(x_test), verbose=0), "float32").reshape(-1)
    except Exception as exc:  # noqa: BLE001
        _error(errors, "training CustomLSTM(units) + Dense(1) with step driven by keras.ops.scan", exc)
    out["errors"] = np.array(errors, dtype=str)
    return out


def save_npz(path, arrays: dict) -> None:
    """Write a dict of arrays and ints to ``path`` (.npz, no pickles)."""
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})


def load_npz(path) -> dict[str, np.ndarray]:
    """Read a .npz written by ``save_npz`` (pickles refused); 0-d arrays come back as Python scalars."""
    with np.load(path, allow_pickle=False) as data:
        return {k: (data[k].item() if data[k].ndim == 0 else data[k]) for k in data.files}
