"""The RNN TP's grading: what each graded cell checks, its points, and the thresholds. Trusted side only.

Every graded cell of ``solutions/tp-rnn/tp-rnn.ipynb`` (visible tests and hidden tests alike) is decided here,
from the artifacts of a sandboxed run (``dl4f.tp_rnn_artifacts``) and the student's source read as text:

- models are reloaded from their ``.keras`` files with Keras's layers only (``keras_artifacts.load_model``), their
  structure is checked, and their R² is computed here on the test split this process builds from the cache;
- the linear regression is scored from its saved coefficients;
- the custom LSTM (Question 4) is judged by the properties every LSTM step has whatever its weight layout
  (``lstm_checks``), on probes drawn from a secret seed, by a training task whose test targets never leave this
  process, and by a static reading of its source (``source_checks``): no ready-made recurrent layer, ``scan``.

``inputs(seed)`` makes the files the sandbox receives; ``judge(...)`` returns, per grade cell, the points earned
and a message for the student.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl4f import evaluation
from dl4f_grading import keras_artifacts as art
from dl4f_grading.cells import decide, prepared

ASSIGNMENT = "tp-rnn"
EXPORT_MODULE = "dl4f.tp_rnn_artifacts"
UNITS = 100
WINDOW = 200
Q4_PROBE_UNITS = 5
RECIPE_EPOCHS = 3  # dl4f.tp_rnn.RECIPE["epochs"]: fewer epochs in the sandbox means the quick thresholds

# Minimum R² on the test split, per model, with dl4f's training (dl4f.tp_rnn.fit_kwargs()).
# Calibrated by benchmarks/calibrate_tp_rnn.py (RECIPE of 3 epochs; 5 seeds, confirmed over 10):
# threshold <= min(observed) - 3 std, rounded down to 0.01. Observed over 10 seeds, mean/std/min: MLP
# 0.170/0.029/0.113, LSTM 0.293/0.012/0.273, GRU 0.275/0.010/0.263, LSTM (2 layers) 0.294/0.006/0.286,
# GRU (2 layers) 0.282/0.016/0.265; linear regression 0.2458 (closed form). Untrained networks: -2.0 to -0.17.
R2_THRESHOLDS = {
    "Linear regression": 0.22,
    "MLP": 0.09,
    "LSTM": 0.24,
    "GRU": 0.24,
    "LSTM (2 layers)": 0.24,
    "GRU (2 layers)": 0.22,
}
# Runs with fewer epochs than the recipe (the instructor's `--epochs 1`: CI) only check the plumbing.
# Measured at 1 epoch, seed 0: MLP -0.07, LSTM 0.29, GRU 0.26, LSTM (2 layers) 0.30, GRU (2 layers) 0.31.
QUICK_R2_THRESHOLDS = {**R2_THRESHOLDS, "MLP": -0.5, "LSTM": 0.2, "GRU": 0.2, "LSTM (2 layers)": 0.2,
                       "GRU (2 layers)": 0.2}

MODEL_NAMES = {"model_mlp": "MLP", "model_lstm": "LSTM", "model_gru": "GRU", "model_lstm_2layer": "LSTM (2 layers)",
               "model_gru_2layer": "GRU (2 layers)"}
_PASSIVE = ("InputLayer", "Reshape", "Flatten", "Dropout")


@dataclass
class Context:
    """What the checks of one submission read: its artifacts folder, its source, the grader's secrets."""

    artifacts: Path
    source: str
    secrets: dict
    quick: bool

    @functools.cached_property
    def data(self):
        from dl4f import tp_rnn

        return tp_rnn.load_data()

    def __post_init__(self):
        self.files = art.ArtifactCache(self.artifacts)

    def model(self, name: str):
        return self.files.model(name)

    def r2(self, name: str) -> float:
        return self.files.cached(f"r2:{name}", lambda: r2_of(self.model(name), self.data))

    def linear(self) -> tuple[np.ndarray, float]:
        arrays = art.read_npz(self.artifacts, "model_linear.npz")
        coef, intercept = arrays.get("coef"), arrays.get("intercept")
        assert coef is not None and intercept is not None, "model_linear: no coefficients were saved"
        coef = np.asarray(coef, dtype="float64").reshape(-1)
        assert coef.shape == (WINDOW,), f"the linear regression must have {WINDOW} coefficients (one per day), " \
                                        f"has {coef.shape[0]}: fit it on the flattened windows"
        intercept = np.asarray(intercept, dtype="float64").reshape(-1)
        assert intercept.size == 1 and np.isfinite(coef).all() and np.isfinite(intercept).all(), \
            "the linear regression's coefficients are not finite numbers"
        return coef, float(intercept[0])

    def threshold(self, name: str) -> float:
        return (QUICK_R2_THRESHOLDS if self.quick else R2_THRESHOLDS)[name]


def r2_of(model, data) -> float:
    X = data.X_test
    shape = tuple(model.inputs[0].shape[1:])
    X = X.reshape((len(X), *[d if d is not None else -1 for d in shape])) if shape != (WINDOW,) else X
    pred = np.asarray(model.predict(X, batch_size=2048, verbose=0), dtype="float64").reshape(-1)
    assert pred.shape == data.y_test.shape, f"one prediction per window expected, got {pred.shape}"
    assert np.isfinite(pred).all(), "the predictions hold NaN or infinite values: did the training diverge?"
    return evaluation.r2(data.y_test, pred)


# ----------------------------------------------------------------------------------------------------
# Structure (on models reloaded from their files)


def structural_layers(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ not in _PASSIVE]


def _is_linear(activation) -> bool:
    return activation is None or getattr(activation, "__name__", str(activation)) == "linear"


def check_output(model, what: str) -> None:
    import keras

    last = structural_layers(model)[-1]
    assert isinstance(last, keras.layers.Dense), f"{what}: the last layer must be Dense, got {type(last).__name__}"
    assert last.units == 1, f"{what}: the output layer must have 1 unit (one forecast), has {last.units}"
    assert _is_linear(last.activation), f"{what}: the output layer must be linear (no activation): we regress a return"
    shape = tuple(model.outputs[0].shape)
    assert shape in ((None, 1), (None,)), f"{what}: the output shape must be (None, 1), got {shape}"


def check_recurrent(model, kind: str, n_layers: int, units: int = UNITS) -> None:
    """``n_layers`` stacked ``kind`` ("LSTM"/"GRU") layers of ``units``, last hidden state only, then Dense(1)."""
    what = f"the {n_layers}-layer {kind} model" if n_layers > 1 else f"the {kind} model"
    layers = structural_layers(model)
    types = [type(layer).__name__ for layer in layers]
    expected = [kind] * n_layers + ["Dense"]
    assert types == expected, f"{what}: expected layers {expected}, got {types}"
    for k, layer in enumerate(layers[:n_layers]):
        assert layer.units == units, f"{what}: recurrent layer {k + 1} must have {units} units, has {layer.units}"
        if k == n_layers - 1:
            assert not layer.return_sequences, (
                f"{what}: the last {kind} must return only its last hidden state (return_sequences=False)")
        else:
            assert layer.return_sequences, (
                f"{what}: {kind} layer {k + 1} must hand its whole sequence to the next one (return_sequences=True)")
        assert not getattr(layer, "return_state", False), f"{what}: return_state must be False"
        assert not getattr(layer, "go_backwards", False), f"{what}: the layer must read the window forward in time"
    shape = tuple(model.inputs[0].shape)
    assert shape[1:] in ((WINDOW, 1), (WINDOW,)), f"{what}: the input must be (None, {WINDOW}, 1), got {shape}"
    check_output(model, what)


def check_mlp(model, depth: int = 3, units: int = UNITS) -> None:
    layers = structural_layers(model)
    types = [type(layer).__name__ for layer in layers]
    assert types == ["Dense"] * (depth + 1), (
        f"the MLP: expected {depth + 1} Dense layers ({depth} hidden + output), got {types}")
    for k, layer in enumerate(layers[:depth]):
        assert layer.units == units, f"the MLP: hidden layer {k + 1} must have {units} units, has {layer.units}"
        name = getattr(layer.activation, "__name__", str(layer.activation))
        assert name == "relu", f"the MLP: hidden layer {k + 1} must use relu, uses {name}"
    check_output(model, "the MLP")


def check_sequential(model, what: str, input_shape: tuple) -> None:
    import keras

    assert isinstance(model, keras.Sequential), f"{what}: use the Sequential API"
    assert tuple(model.outputs[0].shape) == (None, 1), f"{what}: one output per window, got {model.outputs[0].shape}"
    assert tuple(model.inputs[0].shape) == input_shape, f"{what}: the input must be {input_shape}"


def check_r2(ctx: Context, var: str) -> str:
    name = MODEL_NAMES[var]
    score, threshold = ctx.r2(var), ctx.threshold(name)
    assert score >= threshold, (f"{name}: R² on the test split is {score:.4f}, below {threshold:.2f}, which a correct "
                                "model trained as in the notebook passes")
    return f"{name}: R² = {score:.4f} >= {threshold:.2f}"


def linear_r2(ctx: Context) -> float:
    coef, intercept = ctx.linear()
    return evaluation.r2(ctx.data.y_test, ctx.data.X_test @ coef + intercept)


# ----------------------------------------------------------------------------------------------------
# The graded cells


def _q1_tests(ctx):
    check_sequential(ctx.model("build_mlp"), "build_mlp()", (None, WINDOW))
    check_sequential(ctx.model("build_lstm"), "build_lstm()", (None, WINDOW, 1))
    assert ctx.r2("model_lstm") > 0 and linear_r2(ctx) > 0, "the models should beat the mean forecast (R² > 0)"
    return "the models have the expected inputs and outputs and beat the mean forecast"


def _q1_lstm_structure(ctx):
    check_recurrent(ctx.model("model_lstm"), "LSTM", 1)
    check_recurrent(ctx.model("build_lstm"), "LSTM", 1)
    return "LSTM(100) -> Dense(1): as asked"


def _q1_baselines_structure(ctx):
    check_mlp(ctx.model("model_mlp"))
    check_mlp(ctx.model("build_mlp"))
    ctx.linear()
    return "the MLP and the linear regression are as asked"


def _q1_lstm_r2(ctx):
    return check_r2(ctx, "model_lstm")


def _q1_baselines_r2(ctx):
    score, threshold = linear_r2(ctx), ctx.threshold("Linear regression")
    assert score >= threshold, f"Linear regression: R² {score:.4f} on the test split, below {threshold:.2f}"
    return f"Linear regression: R² = {score:.4f}; " + check_r2(ctx, "model_mlp")


def _q2_tests(ctx):
    model = ctx.model("build_gru")
    check_sequential(model, "build_gru()", (None, WINDOW, 1))
    assert any(type(layer).__name__ == "GRU" for layer in model.layers), "use keras.layers.GRU"
    assert ctx.r2("model_gru") > 0, "the GRU should beat the mean forecast (R² > 0)"
    return "the GRU model has the expected input and output"


def _q2_structure(ctx):
    check_recurrent(ctx.model("model_gru"), "GRU", 1)
    check_recurrent(ctx.model("build_gru"), "GRU", 1)
    return "GRU(100) -> Dense(1): as asked"


def _q2_r2(ctx):
    return check_r2(ctx, "model_gru")


def _q3_tests(ctx):
    for name, kind in (("build_lstm_2layer", "LSTM"), ("build_gru_2layer", "GRU")):
        model = ctx.model(name)
        recurrent = [layer for layer in model.layers if type(layer).__name__ == kind]
        assert len(recurrent) == 2, f"{name}(): two {kind} layers expected"
        assert recurrent[0].return_sequences, f"{name}(): the first layer must return its whole sequence"
        assert tuple(model.outputs[0].shape) == (None, 1)
    return "two stacked recurrent layers, the first returning its sequence"


def _q3_structure(ctx):
    check_recurrent(ctx.model("model_lstm_2layer"), "LSTM", 2)
    check_recurrent(ctx.model("build_lstm_2layer"), "LSTM", 2)
    check_recurrent(ctx.model("model_gru_2layer"), "GRU", 2)
    check_recurrent(ctx.model("build_gru_2layer"), "GRU", 2)
    return "the two-layer LSTM and GRU models are as asked"


def _q3_r2(ctx):
    return check_r2(ctx, "model_lstm_2layer") + "; " + check_r2(ctx, "model_gru_2layer")


# Question 4: the custom LSTM, judged by the layout-free properties of lstm_checks.

def _own_lstm(ctx) -> None:
    from dl4f_grading import source_checks

    problems = source_checks.lstm_source_problems(ctx.source, "CustomLSTM")
    assert not problems, "CustomLSTM must write the gate equations itself: " + "; ".join(problems)


def _probe_checks(ctx) -> list:
    if "_probe_checks" not in ctx.__dict__:
        from dl4f_grading import lstm_checks

        try:
            outputs = art.read_npz(ctx.artifacts, "lstm_probes.npz")
        except AssertionError as exc:
            outputs = exc
        if isinstance(outputs, AssertionError):
            ctx.__dict__["_probe_checks"] = outputs
        else:
            ctx.__dict__["_probe_checks"] = lstm_checks.judge_probes(ctx.secrets["probe_spec"], outputs)
    value = ctx.__dict__["_probe_checks"]
    if isinstance(value, AssertionError):
        raise AssertionError(f"CustomLSTM could not be probed: {value} (does CustomLSTM(units) build and run?)")
    return value


EQUATION_CHECKS = ("cell_state", "call_matches_steps", "gates_use_weights", "distinct_gates")
GATE_CHECKS = ("forget_gate", "output_gate", "input_and_candidate")


def _judge_group(ctx, names: tuple) -> str:
    _own_lstm(ctx)
    checks = [c for c in _probe_checks(ctx) if c.name in names]
    assert len(checks) == len(names), "CustomLSTM could not be probed"
    failed = [c for c in checks if not c.passed]
    assert not failed, "; ".join(c.message for c in failed)
    return "; ".join(c.message for c in checks)


def _runs(ctx) -> None:
    """CustomLSTM(units) builds, its step and call run with the expected shapes (on the grader's probes)."""
    checks = [c for c in _probe_checks(ctx) if c.name == "shapes"]
    assert checks, "CustomLSTM could not be probed"
    assert checks[0].passed, checks[0].message


def _q4_tests(ctx):
    _runs(ctx)
    return "CustomLSTM returns h_T of shape (batch, units); step returns (h_t, c_t)"


def _q4_own(ctx):
    _own_lstm(ctx)
    _runs(ctx)
    return "CustomLSTM is a Keras layer of its own"


def _q4_equations(ctx):
    return _judge_group(ctx, EQUATION_CHECKS)


def _q4_gates(ctx):
    return _judge_group(ctx, GATE_CHECKS)


def _q4_scan(ctx):
    from dl4f_grading import source_checks

    _own_lstm(ctx)
    _runs(ctx)
    assert source_checks.call_uses_scan(ctx.source, "CustomLSTM"), (
        "CustomLSTM.call loops over the time steps in Python (or uses no scan): use keras.ops.scan")
    return "call iterates with scan"


def _q4_trains(ctx):
    from dl4f_grading import lstm_checks

    _own_lstm(ctx)
    outputs = []
    for k in range(len(ctx.secrets["task_targets"])):
        try:
            outputs.append(art.read_npz(ctx.artifacts, f"lstm_task_{k}.npz"))
        except AssertionError as exc:
            raise AssertionError(f"CustomLSTM could not be trained by the grader: {exc}") from None
    check = lstm_checks.judge_training(ctx.secrets["task_targets"], outputs)
    assert check.passed, check.message
    return check.message


CELLS: dict[str, Callable[[Context], str]] = {
    "q1_tests": _q1_tests, "q1_lstm_structure": _q1_lstm_structure, "q1_baselines_structure": _q1_baselines_structure,
    "q1_lstm_r2": _q1_lstm_r2, "q1_baselines_r2": _q1_baselines_r2,
    "q2_tests": _q2_tests, "q2_structure": _q2_structure, "q2_r2": _q2_r2,
    "q3_tests": _q3_tests, "q3_structure": _q3_structure, "q3_r2": _q3_r2,
    "q4_tests": _q4_tests, "q4_own": _q4_own, "q4_equations": _q4_equations, "q4_gates": _q4_gates,
    "q4_scan": _q4_scan, "q4_trains": _q4_trains,
}


def inputs(seed: int, folder: Path) -> dict:
    """Write the sandbox's inputs (probes, training task) into ``folder``; return the secrets the judge needs."""
    from dl4f_grading import lstm_checks

    folder.mkdir(parents=True, exist_ok=True)
    spec = lstm_checks.make_probe_spec(seed, Q4_PROBE_UNITS, 1)
    tasks = lstm_checks.make_teacher_tasks(seed + 1)
    np.savez(folder / "lstm_probes.npz", **spec)
    for k, (task, _) in enumerate(tasks):
        np.savez(folder / f"lstm_task_{k}.npz", **task)
    return {"probe_spec": spec, "task_targets": [targets for _, targets in tasks]}


def regenerate_secrets(seed: int) -> dict:
    """The same secrets as ``inputs(seed, ...)``, without writing files (the judge recomputes them)."""
    from dl4f_grading import lstm_checks

    spec = lstm_checks.make_probe_spec(seed, Q4_PROBE_UNITS, 1)
    return {"probe_spec": spec, "task_targets": [targets for _, targets in lstm_checks.make_teacher_tasks(seed + 1)]}


def judge(artifacts: Path, source: str, seed: int, quick: bool, cells: list[str],
          answers: dict | None = None, secrets: dict | None = None) -> dict[str, dict]:
    """Decide every graded cell in ``cells``: {grade_id: {"passed": bool, "message": str}}. ``answers`` (grade id
    -> the student's answer cell): where given, CustomLSTM counts only from its answer cell (q4_answer)."""
    def checks():
        from dl4f_grading import rules

        problems = rules.placement_problems(source, answers, ["CustomLSTM"], "q4_answer")
        if not problems:
            return CELLS
        return {gid: (_refused(problems) if gid.startswith("q4") else check) for gid, check in CELLS.items()}
    return decide(checks(), lambda: Context(Path(artifacts), source, prepared(secrets, regenerate_secrets, seed), quick),
                  cells)


def _refused(problems: list[str]):
    def check(ctx):
        raise AssertionError("not credited: " + "; ".join(problems))
    return check
