"""The one rule set of every TP's "write it yourself" questions (``dl4f_grading.rules``), on small sources: dynamic
name resolution is sent to review, strings are not names, answers count only in their cells, and the run-time facts
(jaxpr primitives, sub-layers, the notebook-like probe) that the exports record."""

from __future__ import annotations

from pathlib import Path

import pytest

from dl4f_grading import rules, tp_intro, tp_optimization, tp_transformer

HEADER = '''
import jax
import jax.numpy as jnp
import keras
import numpy as np
from scipy.optimize import minimize
import dl4f
from dl4f import tp_optimization as tpo
'''

MAX_SHARPE = '''
def weights_from_params(theta):
    return jax.nn.softmax(theta)

def neg_sharpe(theta, mu, cov):
    w = weights_from_params(theta)
    return -(w @ mu) / jnp.sqrt(w @ cov @ w)

neg_sharpe_grad = jax.jit(jax.grad(neg_sharpe))

def max_sharpe_jax(mu, cov, steps=100):
    theta = jnp.zeros(len(mu))
    for _ in range(steps):
        theta = theta - 0.1 * neg_sharpe_grad(theta, mu, cov)
    return np.asarray(weights_from_params(theta))
'''
SCIPY = '''
def max_sharpe_scipy(mu, cov):
    return minimize(lambda w: -(w @ mu), np.ones(len(mu)) / len(mu), method="SLSQP").x
'''


def _problems(source: str, question, answers=None):
    refusals, reviews = rules.own_code_problems(source, question, answers)
    return " | ".join(refusals), " | ".join(reviews)


def test_honest_styles_have_no_problem():
    # jax.grad through a module-level assignment, a hand-written gradient, lax.fori_loop
    assert _problems(HEADER + SCIPY + MAX_SHARPE, tp_optimization.Q3_JAX) == ("", "")
    by_hand = MAX_SHARPE.replace("neg_sharpe_grad = jax.jit(jax.grad(neg_sharpe))", '''
@jax.jit
def neg_sharpe_grad(theta, mu, cov):
    w = jax.nn.softmax(theta)
    s = jnp.sqrt(w @ cov @ w)
    g_w = -(mu / s - (w @ mu) * (cov @ w) / s**3)
    return w * (g_w - w @ g_w)
''')
    assert _problems(HEADER + SCIPY + by_hand, tp_optimization.Q3_JAX) == ("", "")
    assert _problems(HEADER + SCIPY + by_hand, tp_optimization.Q3_GRADIENT) == ("", "")
    loop = "    theta = jax.lax.fori_loop(0, steps, lambda i, t: t - 0.1 * neg_sharpe_grad(t, mu, cov), theta)"
    looped = MAX_SHARPE.replace('''    for _ in range(steps):
        theta = theta - 0.1 * neg_sharpe_grad(theta, mu, cov)''', loop)
    assert _problems(HEADER + looped, tp_optimization.Q3_JAX) == ("", "")


def test_scipy_behind_a_computed_global_is_sent_to_review():
    dynamic = MAX_SHARPE.replace("    return np.asarray(weights_from_params(theta))",
                                 '    return globals()["max_sharpe" + "_sci" + "py"](mu, cov)')
    refused, review = _problems(HEADER + SCIPY + dynamic, tp_optimization.Q3_JAX)
    assert "globals() looks names up at run time" in review
    with pytest.raises(AssertionError, match="needs review by the instructor"):
        rules.check_own_code(HEADER + SCIPY + dynamic, tp_optimization.Q3_JAX)
    direct = MAX_SHARPE.replace("    return np.asarray(weights_from_params(theta))", "    return max_sharpe_scipy(mu, cov)")
    refused, _ = _problems(HEADER + SCIPY + direct, tp_optimization.Q3_JAX)
    assert "uses scipy.optimize.minimize" in refused


def test_a_string_is_not_a_name():
    # "value_and_grad" and "jit" in strings reach nothing: a NumPy loop does not use JAX's gradient
    fake = '''
def max_sharpe_jax(mu, cov):
    """Uses jax.value_and_grad and jax.jit."""
    label = "grad jit value_and_grad"
    w = np.ones(len(mu)) / len(mu)
    return w
'''
    refused, _ = _problems(HEADER + fake, tp_optimization.Q3_JAX)
    assert "must use the gradient of JAX" in refused and "must compile" in refused
    hand = '''
def loss_and_grads(model, trainable, X, y):
    return jax.value_and_grad(lambda w: 0.0)(trainable)

def fit_by_hand(model, X, y, epochs, batch_size, learning_rate):
    how = "value_and_grad"
    return [0.0] * epochs
'''
    refused, _ = _problems(HEADER + hand, tp_intro.Q5_FIT)
    assert "fit_by_hand must use JAX's gradient" in refused


def test_a_method_reached_by_a_computed_name_is_sent_to_review():
    source = HEADER + '''
def loss_and_grads(model, trainable, X, y):
    return jax.value_and_grad(lambda w: 0.0)(trainable)

def fit_by_hand(model, X, y, epochs, batch_size, learning_rate):
    loss_and_grads(model, [], X, y)
    return getattr(model, "".join(["f", "i", "t"]))(X, y, epochs=epochs).history["loss"]
'''
    _, review = _problems(source, tp_intro.Q5_FIT)
    assert "a computed name" in review
    refused, _ = _problems(source.replace('getattr(model, "".join(["f", "i", "t"]))', "model.fit"), tp_intro.Q5_FIT)
    assert "calls .fit" in refused


def test_a_layer_made_from_its_name_is_sent_to_review():
    source = HEADER + '''
class MyDense(keras.layers.Layer):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.deserialize({"class_name": "De" + "nse", "config": {"units": units}})

    def build(self, input_shape):
        pass

    def call(self, x):
        return self.inner(x)

    def get_config(self):
        return {}
'''
    _, review = _problems(source, tp_intro.Q4)
    assert "keras.layers.deserialize makes an object from its name" in review
    refused, _ = _problems(source.replace('keras.layers.deserialize({"class_name": "De" + "nse", "config": '
                                          '{"units": units}})', "keras.layers.Dense(units)"), tp_intro.Q4)
    assert "uses keras.layers.Dense" in refused


def test_patching_a_course_or_library_module_is_sent_to_review():
    for patch in ('import dl4f.artifacts\ndl4f.artifacts.callable_from = lambda ns, name, kind="f": ns["max_sharpe_scipy"]',
                  "import dl4f.tp_callbacks_artifacts as cba\ncba.drive = lambda *a, **k: {}",
                  "keras.Model.predict = lambda self, x, **k: x",
                  'setattr(tpo, "TRADING_DAYS", 1)',
                  "import importlib\nm = importlib.import_module('scipy')",
                  "import sys\nsys.modules['scipy'].optimize = None"):
        _, review = _problems(HEADER + SCIPY + MAX_SHARPE + patch, tp_optimization.Q3_JAX)
        assert review, patch
    settings = "import pandas as pd\npd.options.display.width = 88"
    assert _problems(HEADER + SCIPY + MAX_SHARPE + settings, tp_optimization.Q3_JAX) == ("", "")


def test_answers_count_only_in_their_answer_cell():
    answer = "def mlp_forward(X, W1, b1, W2, b2):\n    raise NotImplementedError\n"
    late = "def mlp_forward(X, W1, b1, W2, b2):\n    return np.maximum(X @ W1 + b1, 0) @ W2 + b2\n"
    source = "import numpy as np\n\n" + answer + "\n\n" + late
    refused, _ = _problems(source, tp_intro.Q1, {"q1_answer": answer})
    assert "redefined or changed after its answer cell (q1_answer)" in refused
    assert _problems("import numpy as np\n\n" + late, tp_intro.Q1, {"q1_answer": late}) == ("", "")
    refused, _ = _problems("import numpy as np\n\n" + late, tp_intro.Q1, {"q1_answer": "pass"})
    assert "not defined in its answer cell (q1_answer)" in refused
    patched = "import numpy as np\n\n" + late + "\nmlp_forward.__code__ = (lambda *a: 0).__code__\n"
    refused, _ = _problems(patched, tp_intro.Q1, {"q1_answer": late})
    assert "redefined or changed after" in refused
    # a draft before the answer cell is harmless; unknown answers (None) skip the placement check
    assert _problems("import numpy as np\n\n" + answer + "\n" + late, tp_intro.Q1, {"q1_answer": late}) == ("", "")
    assert _problems(source, tp_intro.Q1, None) == ("", "")


def test_visible_tests_are_judged_with_their_questions_rules():
    assert rules.question_of("q1_tests", tp_intro.QUESTIONS) is tp_intro.Q1
    assert rules.question_of("q4_tests", tp_intro.QUESTIONS) is tp_intro.Q4
    assert rules.question_of("q5_tests", tp_intro.QUESTIONS) is tp_intro.Q5_GRADS
    assert "MyMultiHeadAttention" in rules.question_of("q2_tests", tp_transformer.QUESTIONS).entries
    keras_forward = HEADER + "def mlp_forward(X, W1, b1, W2, b2):\n    return keras.ops.relu(X @ W1 + b1) @ W2 + b2\n"
    context = type("Ctx", (), {"source": keras_forward, "answers": None})()
    with pytest.raises(AssertionError, match="NumPy only, but it .* uses keras.ops.relu"):
        tp_intro.CELLS["q1_tests"](context)  # the rules refuse before any artifact is read


def test_run_time_facts(tmp_path):
    import jax
    import jax.numpy as jnp
    import keras
    import numpy as np

    from dl4f import export_facts, verify_programs

    def by_scipy(x):  # SciPy hidden in a callback into Python: JAX cannot even save it as a program
        return jax.pure_callback(lambda v: np.sin(v), jax.ShapeDtypeStruct(x.shape, x.dtype), x)

    with pytest.raises(NotImplementedError, match="host_callbacks"):
        verify_programs.save_program(by_scipy, (jnp.ones(3),), Path(tmp_path) / "callback.jaxexport")
    path = Path(tmp_path) / "grad.jaxexport"
    verify_programs.save_program(jax.grad(lambda x: jnp.sum(jnp.tanh(x))), (np.zeros(3, "float32"),), path)
    (out,), calls = verify_programs.run_program(path.read_bytes(), [(np.array([0.0, 1.0, -2.0]),)])
    np.testing.assert_allclose(out[0], 1 - np.tanh([0.0, 1.0, -2.0]) ** 2, rtol=1e-6)
    assert calls == []

    def forged(x):  # a file forged to call a kernel of its choice: refused before it runs
        return jax.ffi.ffi_call("my_target", jax.ShapeDtypeStruct(x.shape, x.dtype))(x)

    raw = jax.export.export(jax.jit(forged), disabled_checks=[jax.export.DisabledSafetyCheck.custom_call("my_target")])(
        jax.ShapeDtypeStruct((3,), np.float32)).serialize()
    with pytest.raises(ValueError, match="the program calls my_target"):
        verify_programs.run_program(raw, [(np.ones(3),)])
    with pytest.raises(ValueError, match="shape"):
        verify_programs.run_program(path.read_bytes(), [(np.ones(4),)])

    class Wrapper(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.hidden = [keras.layers.Dense(2)]

    held = export_facts.sublayer_classes(Wrapper())
    assert held == ["keras.src.layers.core.dense.Dense"]
    assert rules.sublayer_problems(held, {"Dense"}, "MyDense") and not rules.sublayer_problems(held, {"LSTM"}, "x")

    namespace = {"__name__": "__main__"}
    exec("def hold_out(r, s, strategy):\n    return strategy.__module__, strategy.__qualname__\n", namespace)
    probe = export_facts.notebook_function(namespace, namespace["hold_out"], lambda mu, cov: (mu, cov))
    assert probe(1, 2) == (1, 2) and probe.__globals__ is namespace
    assert namespace["hold_out"](None, None, probe) == ("__main__", "<lambda>")
    assert probe.__code__.co_filename == namespace["hold_out"].__code__.co_filename
