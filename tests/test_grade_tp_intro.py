"""The introductory TP: its trusted checks on hand-made artifacts, then a class graded by ``dl4f tp grade``'s engine
(honest, partly wrong and hostile submissions, sandboxed, in one ``grade_class`` call with 2 workers and the
instructor's quick setting of 1 epoch), and the site pages of the TP.

The data are real: the S&P 500 and the VIX of the course's cache; the probes are drawn from a seed as at grading.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import submissions_tp_intro as corpus
import tp_course

from dl4f_grading import engine, sandbox
from dl4f_grading import tp_intro as grader

ROOT = Path(__file__).resolve().parents[1]
TP = "tp-intro"
SEED = 3


@pytest.fixture(scope="module")
def secrets(market_cache):
    return grader.regenerate_secrets(SEED)


def _honest_artifacts(folder: Path, secrets: dict) -> Path:
    """The array artifacts a correct notebook leaves (Questions 1, 3, 4, 5), computed with the grader's references."""
    folder.mkdir(parents=True, exist_ok=True)
    probes = secrets["probes"]
    np.savez(folder / "q1.npz", **{f"out_{i}": grader.mlp_reference(p["X"], p["W1"], p["b1"], p["W2"], p["b2"])
                                   for i, p in enumerate(probes)})
    np.savez(folder / "q3.npz", values=secrets["vix"]["expected"])
    q4, configs = {}, {}
    for i, p in enumerate(probes):
        layer = grader.dense_reference(p["X"], p["W1"], p["b1"], str(p["activation"]))
        q4.update({f"out_{i}": layer, f"config_out_{i}": layer, f"model_out_{i}": layer @ p["W2"] + p["b2"],
                   f"reloaded_out_{i}": layer @ p["W2"] + p["b2"]})
        configs[str(i)] = {"units": int(p["W1"].shape[1]), "activation": str(p["activation"]) or None}
    np.savez(folder / "q4.npz", **q4)
    (folder / "q4_config.json").write_text(json.dumps(configs))
    task = secrets["train"]
    q5 = {}
    for k in range(3):
        loss, grads = grader.mse_and_grads(task[f"g{k}_X"], task[f"g{k}_y"],
                                           *[task[f"g{k}_{n}"] for n in ("W1", "b1", "W2", "b2")])
        q5[f"loss_{k}"] = np.array([loss])
        q5.update({f"grad_{k}_{n}": g for n, g in zip(("W1", "b1", "W2", "b2"), grads, strict=True)})
    weights, losses = grader.sgd_reference(task)
    q5.update({f"trained_{n}": w for n, w in zip(("W1", "b1", "W2", "b2"), weights, strict=True)}, losses=losses)
    np.savez(folder / "q5.npz", **q5)
    return folder


def _verified(folder: Path, summed: frozenset = frozenset()) -> str:
    """What the grader's verifier (``dl4f.verify_programs``) leaves for a JAX ``loss_and_grads``, saved per probe as
    the export does; on the probes in ``summed``, the gradient of the summed error (a mistake)."""
    import jax
    import jax.numpy as jnp

    from dl4f import tp_intro_artifacts as export
    from dl4f import verify_programs

    grader.inputs(SEED, folder / "inputs")
    for k, (name, calls) in enumerate(sorted(export.program_probes(folder / "inputs").items())):
        reduce = jnp.sum if k in summed else jnp.mean

        def loss_and_grads(trainable, X, y, reduce=reduce):
            def loss(w):
                pred = (jnp.maximum(X @ w[0] + w[1], 0) @ w[2] + w[3]).reshape(-1)
                return reduce((pred - y) ** 2)
            return jax.value_and_grad(loss)(trainable)

        verify_programs.save_program(loss_and_grads, calls[0], folder / "programs" / f"{name}.jaxexport")
    verify_programs.verify(folder, "dl4f.tp_intro_artifacts")
    return str(folder / "verified")


SOURCE = '''
import numpy as np
import jax
import keras

def mlp_forward(X, W1, b1, W2, b2):
    return np.maximum(X @ W1 + b1, 0) @ W2 + b2

class MyDense(keras.layers.Layer):
    def build(self, input_shape): pass
    def call(self, x): return keras.ops.matmul(x, self.kernel)
    def get_config(self): return {}

def loss_and_grads(model, trainable, X, y):
    return jax.value_and_grad(lambda w: 0.0)(trainable)

def fit_by_hand(model, X, y, epochs, batch_size, learning_rate):
    return loss_and_grads(model, None, X, y)
'''
ARRAY_CELLS = ["q1_tests", "q1_forward", "q1_numpy", "q3_alignment", "q4_tests", "q4_equals_dense", "q4_config",
               "q4_save", "q5_tests", "q5_gradient", "q5_matches_fit"]


def test_a_correct_answer_passes_and_each_mistake_fails_with_its_reason(tmp_path, secrets):
    folder = _honest_artifacts(tmp_path / "a", secrets)
    verdicts = grader.judge(folder, SOURCE, SEED, False, ARRAY_CELLS, verified=_verified(tmp_path / "a"))
    assert all(v["passed"] for v in verdicts.values()), verdicts
    assert "computed by its JAX program" in verdicts["q5_gradient"]["message"]

    p = secrets["probes"][2]
    # the forward pass without the ReLU; the VIX of the same day; a layer that forgets the bias
    q1 = dict(np.load(folder / "q1.npz"))
    q1["out_2"] = (p["X"] @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    np.savez(folder / "q1.npz", **q1)
    task = secrets["vix"]
    same_day = task["vix"].reindex(task["queries"]).ffill().to_numpy()
    np.savez(folder / "q3.npz", values=same_day)
    q4 = dict(np.load(folder / "q4.npz"))
    q4["out_2"] = grader.dense_reference(p["X"], p["W1"], 0 * p["b1"], str(p["activation"]))
    np.savez(folder / "q4.npz", **q4)
    # the gradient of the sum instead of the mean; one SGD epoch fewer
    q5 = dict(np.load(folder / "q5.npz"))
    for k in (1, 2):  # the notebook's function and its program agree: both sum
        size = len(secrets["train"][f"g{k}_y"])
        q5.update({key: q5[key] * size for key in q5 if key.startswith((f"grad_{k}_", f"loss_{k}"))})
    short = dict(secrets["train"], epochs=1)
    weights, _ = grader.sgd_reference(short)
    q5.update({f"trained_{n}": w for n, w in zip(("W1", "b1", "W2", "b2"), weights, strict=True)})
    np.savez(folder / "q5.npz", **q5)
    summed = _verified(tmp_path / "summed", frozenset({1, 2}))
    verdicts = grader.judge(folder, SOURCE, SEED, False, ARRAY_CELLS, verified=summed)
    assert "relu(X W1 + b1) W2 + b2: off by" in verdicts["q1_forward"]["message"]
    keras_forward = grader.judge(folder, SOURCE.replace("np.maximum", "keras.ops.maximum"), SEED, False,
                                 ["q1_tests", "q1_numpy"])
    for verdict in keras_forward.values():  # the question's rules, visible test included
        assert "NumPy only" in verdict["message"] and "keras.ops.maximum" in verdict["message"]
    assert "look-ahead" in verdicts["q3_alignment"]["message"]
    # the visible test's own assertion is kept: a Monday's forecast uses Friday's close
    assert "on Monday" in grader.judge(folder, SOURCE, SEED, False, ["q3_tests"])["q3_tests"]["message"]
    assert not verdicts["q4_equals_dense"]["passed"] and verdicts["q4_tests"]["passed"]
    assert "MSE loss" in verdicts["q5_gradient"]["message"] and verdicts["q5_tests"]["passed"]
    assert "trained W1" in verdicts["q5_matches_fit"]["message"]
    # a gradient that is right when called and another when the grader compiles it (or none at all)
    twin = grader.judge(_honest_artifacts(tmp_path / "c", secrets), SOURCE, SEED, False, ["q5_gradient"],
                        verified=summed)
    assert "returns other values when called than its JAX program computes" in twin["q5_gradient"]["message"]
    missing = grader.judge(folder, SOURCE, SEED, False, ["q5_tests"])
    assert "its JAX program was not run by the grader" in missing["q5_tests"]["message"]


def test_the_static_checks_refuse_dense_and_fit(tmp_path, secrets):
    folder = _honest_artifacts(tmp_path / "b", secrets)
    cheating = (SOURCE.replace("keras.ops.matmul(x, self.kernel)", "keras.layers.Dense(3)(x)")
                .replace("return loss_and_grads(model, None, X, y)", "return model.fit(X, y).history['loss']"))
    verdicts = grader.judge(folder, cheating, SEED, False, ["q4_equals_dense", "q5_matches_fit"])
    assert "compute x W + b itself" in verdicts["q4_equals_dense"]["message"]
    assert "uses keras.layers.Dense" in verdicts["q4_equals_dense"]["message"]
    assert "calls .fit" in verdicts["q5_matches_fit"]["message"]
    no_layer = SOURCE.replace("class MyDense(keras.layers.Layer)", "class MyDense(object)")
    assert "derive from keras.layers.Layer" in grader.judge(folder, no_layer, SEED, False, ["q4_save"])["q4_save"]["message"]


def test_the_exports_warm_up_changes_nothing_the_export_records(tmp_path, secrets):
    """``tp_intro_artifacts.warm`` (the waiting export runs it on the grader's inputs before any student code is
    loaded): Keras's own layers and the course's MSE at the grader's shapes, one step per ``next``; Keras's global
    state is reset after it (``export_run.forget_warm_up``). An export after it records what an export before it
    did (honest answers in the solution's style: a layer of ``keras.ops``, ``value_and_grad`` over
    ``stateless_call``, an eager loop)."""
    import jax
    import jax.numpy as jnp
    import keras

    from dl4f import export_run
    from dl4f import tp_intro_artifacts as export

    class MyDense(keras.layers.Layer):
        def __init__(self, units, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.units, self.activation = int(units), keras.activations.get(activation)

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return self.activation(keras.ops.matmul(inputs, self.kernel) + self.bias)

        def get_config(self):
            return {**super().get_config(), "units": self.units,
                    "activation": keras.activations.serialize(self.activation)}

    def loss_and_grads(model, trainable, X, y):
        def loss(weights):
            return jnp.mean((jnp.reshape(model.stateless_call(weights, [], X)[0], (-1,)) - jnp.reshape(y, (-1,))) ** 2)
        return jax.value_and_grad(loss)(trainable)

    def fit_by_hand(model, X, y, epochs, batch_size, learning_rate):
        weights, losses = [v.value for v in model.trainable_variables], []
        for _ in range(epochs):
            total = 0.0
            for start in range(0, len(X), batch_size):
                loss, grads = loss_and_grads(model, weights, X[start:start + batch_size], y[start:start + batch_size])
                weights = [w - learning_rate * g for w, g in zip(weights, grads, strict=True)]
                total += float(loss) * len(X[start:start + batch_size])
            losses.append(total / len(X))
        for variable, value in zip(model.trainable_variables, weights, strict=True):
            variable.assign(value)
        return losses

    namespace = {"MyDense": MyDense, "loss_and_grads": loss_and_grads, "fit_by_hand": fit_by_hand}
    inputs = tmp_path / "inputs"
    grader.inputs(SEED, inputs)
    export.export_artifacts(namespace, tmp_path / "before", inputs)
    steps = sum(1 for _ in export.warm(inputs))
    task = secrets["train"]
    last_batch = len(task["X"]) % int(task["batch_size"]) != 0
    # imports; loss_and_grads' 3 probes; MyDense's probes; the models' initial weights; fit_by_hand's batches
    assert steps == 1 + 3 + len(secrets["probes"]) + 1 + 1 + last_batch
    export_run.forget_warm_up()  # as the export does at go
    assert keras.layers.Dense(1).name == "dense"  # Keras's global state reset: names as in a fresh process
    export.export_artifacts(namespace, tmp_path / "after", inputs)
    for name in ("q4.npz", "q5.npz"):
        with np.load(tmp_path / "before" / name) as f, np.load(tmp_path / "after" / name) as g:
            assert sorted(f.files) == sorted(g.files) and not any("error" in k for k in f.files), f.files
            for key in f.files:
                np.testing.assert_allclose(g[key], f[key], rtol=1e-6, atol=1e-7, err_msg=f"{name}/{key}")


def _keras_sgd(task: dict) -> tuple[list[np.ndarray], list[float]]:
    """What a student's float32 ``model.fit`` with SGD does on the grader's task: trained weights, epoch losses."""
    import keras

    d, h = task["W1"].shape
    model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(h, activation="relu"), keras.layers.Dense(1)])
    model.set_weights([task[n].astype("float32") for n in ("W1", "b1", "W2", "b2")])
    model.compile(optimizer=keras.optimizers.SGD(float(task["learning_rate"])), loss="mse")
    history = model.fit(task["X"].astype("float32"), task["y"].astype("float32"), epochs=int(task["epochs"]),
                        batch_size=int(task["batch_size"]), shuffle=False, verbose=0).history
    return model.get_weights(), history["loss"]


def test_the_graders_sgd_is_what_model_fit_does(secrets):
    task = secrets["train"]
    got_weights, got_losses = _keras_sgd(task)
    weights, losses = grader.sgd_reference(task)
    assert len(task["X"]) % int(task["batch_size"]) != 0  # a smaller last batch is part of the test
    assert np.allclose(got_losses, losses, rtol=1e-5)
    for got, ref in zip(got_weights, weights, strict=True):
        assert np.max(np.abs(got - ref)) < 1e-5


def test_no_secret_task_puts_a_relu_input_at_its_kink_where_float32_would_take_the_other_side():
    # Seed 43's first draw: a pre-activation 6e-7 from 0 on the reference's path; float32 SGD (Keras, this machine)
    # crossed it and ended 8e-4 away in loss, failing a correct fit_by_hand. Whether float32 crosses it depends on
    # the CPU's rounding, so the grader draws again until the margin holds, and the fit then matches.
    first = grader._draw_train_task(np.random.default_rng([43, 5]))
    assert grader.kink_distance(first) < 1e-6
    task = grader.train_task(43)
    assert grader.kink_distance(task) >= grader.KINK_MARGIN
    weights, losses = grader.sgd_reference(task)
    got_weights, got_losses = _keras_sgd(task)
    assert np.allclose(got_losses, losses, rtol=1e-5)
    assert max(np.max(np.abs(g - w)) for g, w in zip(got_weights, weights, strict=True)) < 1e-5
    assert all(grader.kink_distance(grader.train_task(seed)) >= grader.KINK_MARGIN for seed in range(200))


def test_the_chain_rule_gradient_is_the_finite_difference_one(secrets):
    task = secrets["train"]
    weights = [task[f"g2_{n}"] for n in ("W1", "b1", "W2", "b2")]
    _, grads = grader.mse_and_grads(task["g2_X"], task["g2_y"], *weights)
    for k, g in enumerate(grads):
        idx = tuple(np.unravel_index(np.argmax(np.abs(g)), g.shape))
        plus, minus = [x.copy() for x in weights], [x.copy() for x in weights]
        plus[k][idx] += 1e-6
        minus[k][idx] -= 1e-6
        fd = (grader.mse_and_grads(task["g2_X"], task["g2_y"], *plus)[0]
              - grader.mse_and_grads(task["g2_X"], task["g2_y"], *minus)[0]) / 2e-6
        assert abs(fd - g[idx]) < 1e-6 * (1 + abs(fd)), (k, fd, g[idx])


def test_vix_alignment_reference_and_secret_tasks(secrets):
    import pandas as pd

    vix = pd.Series([10.0, 11.0, 12.0], index=pd.to_datetime(["2020-03-12", "2020-03-13", "2020-03-16"]))
    got = grader.reference_vix_before(vix, pd.to_datetime(["2020-03-12", "2020-03-14", "2020-03-16", "2020-03-17"]))
    assert np.isnan(got[0]) and list(got[1:]) == [11.0, 11.0, 12.0]
    a, b = grader.regenerate_secrets(1), grader.regenerate_secrets(2)
    assert np.array_equal(a["probes"][0]["W1"], b["probes"][0]["W1"])  # the public probe is the same for everyone
    assert a["sizes"] != b["sizes"] or a["probes"][1]["X"].shape != b["probes"][1]["X"].shape
    assert not np.isnan(secrets["vix"]["expected"]).any() and (secrets["vix"]["queries"].day_of_week >= 5).any()


def test_forged_links_and_bad_arrays_are_refused(tmp_path, secrets):
    folder = tmp_path / "forged"
    folder.mkdir()
    (folder / "q1.npz").symlink_to("/etc/passwd")
    (folder / "model_mlp.keras").write_text("not a zip")
    np.savez(folder / "q3.npz", values=np.array(["x"]))
    verdicts = grader.judge(folder, "", SEED, False, ["q1_forward", "q2_r2", "q3_alignment", "q9"])
    assert "regular file" in verdicts["q1_forward"]["message"]
    assert "not numbers" in verdicts["q3_alignment"]["message"]
    assert "no check" in verdicts["q9"]["message"] and not any(v["passed"] for v in verdicts.values())


# ----------------------------------------------------------------------------------------------------
# A class graded in the sandbox


@pytest.fixture(scope="module")
def graded(tmp_path_factory, market_cache):
    settings = engine.Settings(epochs=1, limits=sandbox.Limits(seconds=300, memory_gb=6), cell_timeout=120)
    return tp_course.grade_corpus(tmp_path_factory.mktemp("course"), TP, corpus, settings)


def test_every_submission_gets_what_its_honest_work_earns(graded):
    tp_course.assert_scores(graded["results"], corpus.EXPECTED)


def test_partial_and_hostile_work_say_what_went_wrong(graded):
    results = graded["results"]
    lost = sorted(g for g, v in results["lookahead"]["cells"].items() if not v["passed"])
    assert lost == ["q3_alignment", "q3_tests"] and "look-ahead" in results["lookahead"]["cells"]["q3_alignment"]["message"]
    assert "Monday" in results["lookahead"]["cells"]["q3_tests"]["message"]
    dynamic = results["dynamic"]["cells"]
    assert all("needs review" in dynamic[g]["message"] for g in ("q4_equals_dense", "q1_tests"))
    assert "keras.layers.deserialize" in dynamic["q4_tests"]["message"]
    assert "a computed name" in dynamic["q5_matches_fit"]["message"]
    strings = results["strings"]["cells"]
    assert "NumPy only" in strings["q1_tests"]["message"] and "keras.ops" in strings["q1_forward"]["message"]
    assert "must use JAX's gradient" in strings["q5_matches_fit"]["message"]
    assert "its answer cell (q1_answer)" in results["late_cell"]["cells"]["q1_forward"]["message"]
    oracle = results["oracle"]["cells"]["q2_tests"]  # a Model subclass whose predict reads the test targets:
    # refused when reloaded with Keras's own classes, or never exported (the export cannot rebuild it outside its run)
    assert not oracle["passed"] and ("Keras's" in oracle["message"] or "was not produced" in oracle["message"])
    forge = results["forge"]["cells"]
    # it replaces the export (an assignment into a course module): every cell waits for the instructor, or is
    # refused outright where the question's own rules are broken too
    assert all(("needs review" in v["message"] or "not credited" in v["message"]) and "export_artifacts" in v["message"]
               for v in forge.values())
    assert sum("needs review" in v["message"] for v in forge.values()) >= len(forge) // 2


def test_autograded_notebooks_hold_no_hidden_test_code(graded):
    tp_course.assert_autograded_clean(graded["root"], TP, "PASSED (3/3 points)")


# ----------------------------------------------------------------------------------------------------
# The site


def test_the_tp_pages_are_on_the_site_and_the_student_version_is_clean():
    tps = tp_course.assert_tp_pages(TP, "chapters/intro", "Introduction to Deep Learning", hidden_cells=12)
    assert [c["href"] for c in tps] == ["chapters/intro/tp-intro.qmd"]  # the corrected page joins it when published


def test_every_graded_cell_of_the_source_has_a_trusted_check():
    tp_course.assert_source_is_gradable(TP, grader)
    assert grader.RECIPE_EPOCHS == __import__("dl4f.tp_intro").tp_intro.RECIPE["epochs"]
