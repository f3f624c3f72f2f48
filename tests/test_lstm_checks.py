"""Question 4's grading split in two: dl4f.probes (sandbox side) and dl4f_grading.lstm_checks / source_checks
(trusted side). Correct LSTMs in any weight layout pass; each broken cell fails the check that names its mistake;
malformed artifacts fail with a message, never an exception; evasive sources are caught, honest ones are not."""

import json
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from lstm_variants import BROKEN_KINDS, CORRECT, ConstantWeightsLSTM, broken

from dl4f import probes
from dl4f_grading import lstm_checks, source_checks

ROOT = Path(__file__).resolve().parents[1]
UNITS = 4


def judge(layer_cls, seed=0, units=UNITS, input_dim=1):
    spec = lstm_checks.make_probe_spec(seed, units, input_dim)
    out = probes.probe_lstm(layer_cls, spec)
    return {c.name: c for c in lstm_checks.judge_probes(spec, out)}, out


# ----------------------------------------------------------------------------------------------------
# Probes: correct layouts pass, broken cells fail the right check


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_layouts_pass_every_probe_check(name):
    checks, out = judge(CORRECT[name], seed=len(name), input_dim=1 + len(name) % 2)
    assert list(out["errors"]) == []
    assert set(checks) == {"shapes", "cell_state", "forget_gate", "output_gate", "input_and_candidate", "distinct_gates",
                           "gates_use_weights", "call_matches_steps"}
    failed = {n: c.message for n, c in checks.items() if not c.passed}
    assert failed == {}


@pytest.mark.parametrize("kind", list(BROKEN_KINDS))
def test_broken_cells_fail_the_check_that_names_the_mistake(kind):
    checks, _ = judge(broken(kind), seed=3)
    expected = checks[BROKEN_KINDS[kind]]
    assert not expected.passed, f"{kind}: {expected.message}"
    assert len(expected.message) > 30


def test_gates_from_numpy_constants_are_an_lstm_but_not_the_layers_weights():
    checks, out = judge(ConstantWeightsLSTM)
    assert out["weight_shapes"].tolist() == [""]  # no variable to set
    assert not checks["gates_use_weights"].passed and "add_weight" in checks["gates_use_weights"].message
    assert all(c.passed for n, c in checks.items() if n != "gates_use_weights")


def test_messages_say_what_to_fix():
    checks, _ = judge(broken("candidate_sigmoid"))
    assert "tanh" in checks["input_and_candidate"].message
    checks, _ = judge(broken("swapped"))
    assert "(h_t, c_t)" in checks["cell_state"].message
    checks, _ = judge(broken("no_bias"))
    assert "bias" in checks["forget_gate"].message
    checks, _ = judge(broken("no_h"))
    assert "h_{t-1}" in checks["forget_gate"].message
    checks, _ = judge(broken("tanh_with_exp"))
    assert "ops.tanh" in checks["input_and_candidate"].message
    assert sum(not c.passed for c in checks.values()) == 1  # every other check passes
    checks, _ = judge(broken("call_returns_pair"))
    assert not checks["shapes"].passed and "h_T" in checks["shapes"].message
    checks, _ = judge(broken("call_backwards"))
    assert "forward in time" in checks["call_matches_steps"].message


def test_reference_solution_of_the_notebook_passes():
    nb = json.loads((ROOT / "solutions" / "tp-rnn" / "tp-rnn.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "q4_answer")
    namespace = {"keras": keras, "np": np, "ops": keras.ops}
    exec("".join(cell["source"]), namespace)  # the course's own solution, not student code
    checks, _ = judge(namespace["CustomLSTM"], seed=11, units=5)
    assert all(c.passed for c in checks.values()), {n: c.message for n, c in checks.items() if not c.passed}


# ----------------------------------------------------------------------------------------------------
# Sandbox side: errors are recorded, artifacts travel as .npz


class StepRaises(CORRECT["fused"]):
    def step(self, x_t, h_prev, c_prev):
        raise RuntimeError("shapes do not match")


class BuildRaises(CORRECT["fused"]):
    def build(self, input_shape):
        raise ValueError("no weights for you")


def test_probe_records_errors_and_the_judge_fails_cleanly():
    spec = lstm_checks.make_probe_spec(0, UNITS)
    out = probes.probe_lstm(StepRaises, spec)
    assert any("shapes do not match" in e and "step" in e for e in out["errors"])
    assert "step_h" not in out
    checks = lstm_checks.judge_probes(spec, out)
    assert checks and not any(c.passed for c in checks)
    assert "shapes do not match" in checks[0].message

    out = probes.probe_lstm(BuildRaises, spec)
    assert any("no weights for you" in e for e in out["errors"])
    assert not any(c.passed for c in lstm_checks.judge_probes(spec, out))


def test_every_weight_is_randomised_whatever_its_shape():
    layer = CORRECT["bias (4, u)"](UNITS)
    layer.build((None, 10, 1))
    shapes = probes.randomize_weights(layer, seed=5, fan_in=UNITS + 2)
    assert shapes == [(1, 4 * UNITS), (UNITS, 4 * UNITS), (4, UNITS)]
    bias = np.asarray(layer.weights[2])
    assert np.abs(bias).min() > 0 and 0.1 < bias.std() < 1.0  # zeros initializer replaced by N(0, 1/6)


def test_spec_and_outputs_travel_as_npz(tmp_path):
    spec = lstm_checks.make_probe_spec(7, UNITS)
    probes.save_npz(tmp_path / "spec.npz", spec)
    loaded = probes.load_npz(tmp_path / "spec.npz")
    assert loaded["units"] == UNITS and isinstance(loaded["weight_seed"], int)
    np.testing.assert_array_equal(loaded["x"], spec["x"])
    out = probes.probe_lstm(CORRECT["fused"], loaded)
    probes.save_npz(tmp_path / "out.npz", out)
    back = probes.load_npz(tmp_path / "out.npz")
    assert all(c.passed for c in lstm_checks.judge_probes(spec, back))


def test_spec_is_deterministic_and_checks_its_arguments():
    a, b = lstm_checks.make_probe_spec(3, 5, 2), lstm_checks.make_probe_spec(3, 5, 2)
    np.testing.assert_array_equal(a["h"], b["h"])
    assert a["weight_seed"] != lstm_checks.make_probe_spec(4, 5, 2)["weight_seed"]
    assert a["x"].shape == (a["n_base"] * a["n_cell_states"] + 2 * a["n_lines"], 2)
    with pytest.raises(ValueError, match="units"):
        lstm_checks.make_probe_spec(0, 0)
    with pytest.raises(ValueError, match="n_cell_states"):
        lstm_checks.make_probe_spec(0, 4, n_cell_states=2)


# ----------------------------------------------------------------------------------------------------
# Trusted side never trusts the artifacts


def test_malformed_outputs_fail_with_a_message():
    spec = lstm_checks.make_probe_spec(1, UNITS)
    good = probes.probe_lstm(CORRECT["fused"], spec)
    n = len(spec["x"])
    cases = {
        "missing": {k: v for k, v in good.items() if k != "step_c"},
        "wrong shape": {**good, "step_h": good["step_h"][:, :2]},
        "nan": {**good, "step_c": np.full((n, UNITS), np.nan)},
        "text": {**good, "step_h": np.array(["a"] * n)},
        "object": {**good, "call_h": "not an array"},
        "empty": {},
        "not a dict": None,
    }
    for what, outputs in cases.items():
        checks = lstm_checks.judge_probes(spec, outputs)
        assert len(checks) == 8, what
        assert not all(c.passed for c in checks), what
        assert all(isinstance(c.message, str) and c.message for c in checks), what


def test_judge_training_validates_predictions_and_passes_on_the_best_task():
    y = np.linspace(-1, 1, 50)
    good, bad = {"y_pred": y + 0.01}, {"y_pred": np.zeros(50)}
    assert lstm_checks.judge_training([y, y], [good, good]).passed
    # a hard draw on one task does not fail a layer that learns the other one
    one_learned = lstm_checks.judge_training([y, y], [bad, good])
    assert one_learned.passed and "0.000 and 1.000" in one_learned.message, one_learned.message
    assert not lstm_checks.judge_training([y, y], [bad, bad]).passed
    for outputs in ({"y_pred": np.zeros(50)}, {"y_pred": y[:10]}, {"y_pred": np.full(50, np.inf)}, {},
                    {"errors": np.array(["training: boom"])}, None):
        check = lstm_checks.judge_training([y, y], [outputs, outputs])
        assert not check.passed and check.name == "trains" and check.message
    # a result missing for one task (the export stopped) fails, whatever the other says
    assert not lstm_checks.judge_training([y, y], [good]).passed
    assert not lstm_checks.judge_training([y, y], [good, {"errors": np.array(["training: boom"])}]).passed
    assert not lstm_checks.judge_training([y, y], None).passed
    assert "boom" in lstm_checks.judge_training([y], [{"errors": np.array(["training: boom"])}]).message


def test_teacher_task_keeps_its_test_targets_and_is_not_linear():
    task, secret = lstm_checks.make_teacher_task(0, n_train=512, n_test=256)
    assert set(task) == {"x_train", "y_train", "x_test", "units", "epochs", "batch_size", "learning_rate", "seed",
                         "reinit_seed"}
    assert task["x_test"].shape == (256, 30, 1) and secret.shape == (256,)
    assert not any(np.shares_memory(secret, v) for v in task.values() if isinstance(v, np.ndarray))
    # A linear regression on the raw sequence explains nothing of the (even) target.
    A = np.concatenate([task["x_train"][..., 0], np.ones((512, 1))], axis=1)
    w, *_ = np.linalg.lstsq(A, task["y_train"], rcond=None)
    pred = np.concatenate([task["x_test"][..., 0], np.ones((256, 1))], axis=1) @ w
    assert lstm_checks.r2_score(secret, pred) < 0.1


def test_the_teacher_tasks_are_independent_draws_from_one_seed():
    tasks = lstm_checks.make_teacher_tasks(7, n_train=64, n_test=32)
    again = lstm_checks.make_teacher_tasks(7, n_train=64, n_test=32)
    assert len(tasks) == lstm_checks.TRAINING_TASKS == 2
    for (task, y), (task2, y2) in zip(tasks, again, strict=True):
        np.testing.assert_array_equal(task["x_train"], task2["x_train"])
        np.testing.assert_array_equal(y, y2)
    assert not np.allclose(tasks[0][0]["x_train"], tasks[1][0]["x_train"])
    assert tasks[0][0]["seed"] != tasks[1][0]["seed"]


def test_a_correct_lstm_learns_a_hard_draw_as_a_whole_and_constant_weights_do_not():
    # Task seed 25 is one of the hard teachers (calibration: a correct LSTM reaches R² 0.37 to 0.47 on it): with one
    # task and the old threshold of 0.8 a correct layer failed; the second task decides.
    hard, easy = lstm_checks.make_teacher_task(25), lstm_checks.make_teacher_task(1)
    layer = CORRECT["per gate, W ifco, U foic"]
    trained = [probes.train_on_task(layer, task) for task, _ in (hard, easy)]
    scores = [lstm_checks.r2_score(y, out["y_pred"]) for (_, y), out in zip((hard, easy), trained, strict=True)]
    assert scores[0] < 0.8 < scores[1], scores
    good = lstm_checks.judge_training([hard[1], easy[1]], trained)
    assert good.passed, good.message
    frozen = [probes.train_on_task(ConstantWeightsLSTM, task) for task, _ in (hard, easy)]
    check = lstm_checks.judge_training([hard[1], easy[1]], frozen)
    assert not check.passed, check.message


# ----------------------------------------------------------------------------------------------------
# Source checks (pure AST)

HONEST = '''
import dl4f
import keras
import numpy as np
from keras import ops, layers
from keras.layers import Layer


def build_lstm():
    """Question 1: Keras's own LSTM is fine here."""
    return keras.Sequential([keras.Input(shape=(200, 1)), keras.layers.LSTM(100), keras.layers.Dense(1)])


def build_gru():
    return keras.Sequential([keras.Input(shape=(200, 1)), layers.GRU(100), layers.Dense(1)])


model = build_lstm()
model_lstm = build_lstm()


class CustomLSTM(keras.layers.Layer):
    """An LSTM like keras.layers.LSTM, with an LSTMCell-style step."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        # same layout as keras.layers.LSTMCell
        self.W = self.add_weight(shape=(input_shape[-1], 4 * self.units))
        self.U = self.add_weight(shape=(self.units, 4 * self.units))
        self.b = self.add_weight(shape=(4 * self.units,), initializer="zeros")

    def step(self, x_t, h_prev, c_prev):
        z = ops.matmul(x_t, self.W) + ops.matmul(h_prev, self.U) + self.b
        i, f, g, o = ops.split(z, 4, axis=-1)
        model = None  # a local name, not the module-level model
        c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
        return ops.sigmoid(o) * ops.tanh(c), c

    def call(self, inputs):
        h0 = ops.zeros((ops.shape(inputs)[0], self.units))

        def body(carry, x_t):
            h, c = self.step(x_t, *carry)
            return (h, c), None

        (h, _), _ = ops.scan(body, (h0, h0), ops.transpose(inputs, (1, 0, 2)))
        return h
'''


def with_class(body: str, header: str = "import keras\nfrom keras import ops\n") -> str:
    return header + textwrap.dedent(body)


def test_honest_sources_have_no_problem():
    assert source_checks.lstm_source_problems(HONEST) == []
    assert source_checks.call_uses_scan(HONEST)
    local_base = with_class('''
        from keras.layers import Layer as BaseLayer
        class Base(BaseLayer):
            pass
        class CustomLSTM(Base):
            def call(self, inputs):
                return inputs
    ''')
    assert source_checks.lstm_source_problems(local_base) == []


def test_the_notebook_solution_passes_the_source_checks():
    nb = json.loads((ROOT / "solutions" / "tp-rnn" / "tp-rnn.ipynb").read_text())
    # the hidden tests (which pass globals() to the grader's helper) are never in the graded notebook
    code = source_checks.notebook_code(["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
                                        and "BEGIN HIDDEN TESTS" not in "".join(c["source"])])
    assert "%matplotlib" not in code and "class CustomLSTM" in code
    assert source_checks.lstm_source_problems(code) == []
    assert source_checks.call_uses_scan(code)


EVASIVE = {
    "wraps LSTMCell": '''
        class CustomLSTM(keras.layers.Layer):
            def __init__(self, units):
                super().__init__()
                self.cell = keras.layers.LSTMCell(units)
    ''',
    "alias import": '''
        from keras.layers import LSTMCell as Foo
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = Foo(4)
    ''',
    "module alias": '''
        Cell = keras.layers.LSTMCell
        class CustomLSTM(keras.layers.Layer):
            pass
    ''',
    "getattr computed": '''
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = getattr(keras.layers, "LST" + "MCell")(4)
    ''',
    "getattr literal": '''
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = getattr(keras.layers, "LSTMCell")(4)
    ''',
    "subclass elsewhere": '''
        class MyCell(keras.layers.LSTMCell):
            pass
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = MyCell(4)
    ''',
    "dl4f GateLSTMCell": '''
        from dl4f.layers import GateLSTMCell
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = GateLSTMCell(4)
    ''',
    "dl4f module alias": '''
        from dl4f import layers as L
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = L.GateLSTMCell(4)
    ''',
    "helper function": '''
        def make(u):
            return keras.layers.LSTM(u)
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.inner = make(4)
    ''',
    "trained Q1 model": '''
        def build_lstm():
            return keras.Sequential([keras.layers.LSTM(100), keras.layers.Dense(1)])
        model_lstm = build_lstm()
        class CustomLSTM(keras.layers.Layer):
            def call(self, inputs):
                return model_lstm.layers[0](inputs)
    ''',
    "keras.src path": '''
        import keras.src.layers.rnn.lstm as m
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = m.LSTMCell(4)
    ''',
    "derives from LSTM": '''
        class CustomLSTM(keras.layers.LSTM):
            pass
    ''',
    "__import__": '''
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = __import__("keras").layers.LSTMCell(4)
    ''',
    "importlib": '''
        import importlib
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = importlib.import_module("dl4f.layers").GateLSTMCell(4)
    ''',
    "vars": '''
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = vars(keras.layers)["LSTM" + "Cell"](4)
    ''',
    "__dict__": '''
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = keras.layers.__dict__["LSTMCell"](4)
    ''',
    "eval": '''
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = eval("keras.layers.LSTMCell")(4)
    ''',
    "globals": '''
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = globals()["ke" + "ras"].layers
    ''',
    "star import": '''
        from keras.layers import *
        class CustomLSTM(Layer):
            def build(self, s):
                self.cell = LSTMCell(4)
    ''',
    "monkeypatched module": '''
        keras.layers.Dense = keras.layers.LSTMCell
        class CustomLSTM(keras.layers.Layer):
            pass
    ''',
    "setattr on a module": '''
        setattr(keras.layers, "Dense", getattr(keras.layers, "LSTMCell"))
        class CustomLSTM(keras.layers.Layer):
            pass
    ''',
    "class attribute set from outside": '''
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = self.cell_cls(4)
        CustomLSTM.cell_cls = keras.layers.LSTMCell
    ''',
    "method replaced from outside": '''
        def fake_build(self, s):
            self.cell = keras.layers.LSTMCell(4)
        class CustomLSTM(keras.layers.Layer):
            pass
        setattr(CustomLSTM, "build", fake_build)
    ''',
    "ConvLSTM1D": '''
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = keras.layers.ConvLSTM1D(4, 1)
    ''',
    "torch": '''
        import torch
        class CustomLSTM(keras.layers.Layer):
            def build(self, s):
                self.cell = torch.nn.LSTM(1, 4)
    ''',
    "not a layer": '''
        class CustomLSTM:
            pass
    ''',
    "no class": '''
        class MyLSTM(keras.layers.Layer):
            pass
    ''',
}


@pytest.mark.parametrize("name", list(EVASIVE))
def test_evasive_sources_are_caught(name):
    problems = source_checks.lstm_source_problems(with_class(EVASIVE[name]))
    assert problems, name
    assert all(isinstance(p, str) and len(p) > 15 for p in problems)


def test_unparsable_source_is_a_problem_not_a_crash():
    assert "does not parse" in source_checks.lstm_source_problems("class CustomLSTM(:\n")[0]
    assert source_checks.call_uses_scan("def (") is False
    assert source_checks.notebook_code(["x = 1", "def (", "%time y = 2"]) == "x = 1\n\npass"


SCAN_SOURCES = {
    "ops.scan": (True, '''
        class CustomLSTM(keras.layers.Layer):
            def call(self, inputs):
                return ops.scan(self._f, None, inputs)
    '''),
    "jax.lax.scan in a helper method": (True, '''
        import jax
        class CustomLSTM(keras.layers.Layer):
            def call(self, inputs):
                return self.run(inputs)
            def run(self, inputs):
                def body(carry, x):
                    for g in range(4):  # a loop inside one step: fine
                        pass
                    return carry, x
                return jax.lax.scan(body, 0, inputs)
    '''),
    "keras.layers.RNN": (True, '''
        class CustomLSTM(keras.layers.Layer):
            def call(self, inputs):
                return keras.layers.RNN(self.cell)(inputs)
    '''),
    "scan body is a method with a loop over gates": (True, '''
        class CustomLSTM(keras.layers.Layer):
            def call(self, inputs):
                return ops.scan(self.body, None, inputs)
            def body(self, carry, x):
                for W in list(self.kernels):
                    pass
                return carry, x
    '''),
    "loop over gates outside scan": (True, '''
        class CustomLSTM(keras.layers.Layer):
            def call(self, inputs):
                for name in ("i", "f"):
                    pass
                return ops.scan(self._f, None, inputs)
    '''),
    "python for loop": (False, '''
        class CustomLSTM(keras.layers.Layer):
            def call(self, inputs):
                h = c = ops.zeros((2, 4))
                for t in range(inputs.shape[1]):
                    h, c = self.step(inputs[:, t], h, c)
                return h
    '''),
    "scan and a for loop": (False, '''
        class CustomLSTM(keras.layers.Layer):
            def call(self, inputs):
                for x_t in ops.unstack(inputs, axis=1):
                    pass
                return ops.scan(self._f, None, inputs)
    '''),
    "while loop in a helper": (False, '''
        class CustomLSTM(keras.layers.Layer):
            def call(self, inputs):
                ops.scan(self._f, None, inputs)
                return self.loop(inputs)
            def loop(self, inputs):
                t = 0
                while t < 10:
                    t += 1
    '''),
    "comprehension over time": (False, '''
        class CustomLSTM(keras.layers.Layer):
            def call(self, inputs):
                ops.scan(self._f, None, inputs)
                return [self.step(inputs[:, t]) for t in range(inputs.shape[1])]
    '''),
    "no call": (False, '''
        class CustomLSTM(keras.layers.Layer):
            pass
    '''),
}


@pytest.mark.parametrize("name", list(SCAN_SOURCES))
def test_call_uses_scan(name):
    expected, body = SCAN_SOURCES[name]
    assert source_checks.call_uses_scan(with_class(body)) is expected
