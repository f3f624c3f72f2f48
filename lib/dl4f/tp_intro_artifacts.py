"""What a graded run of the introductory TP hands the grader: runs in the sandbox, after the student's last cell.

``export_artifacts(namespace, out_dir, inputs_dir)`` calls the notebook's functions and classes on the inputs the
grader placed in ``inputs_dir`` and saves what they return, as data:

- ``q1.npz``: ``mlp_forward(X, W1, b1, W2, b2)`` on the grader's weights and inputs (public, then secret probes);
- ``model_mlp.keras``, ``model_vix.keras``: the trained models; ``build_mlp.keras``, ``build_two_inputs.keras``:
  fresh models of the builders at the grader's sizes (the grader reloads them with Keras's own layers only and
  scores them itself); ``model_linear.npz``: the linear regression's coefficients;
- ``q3.npz``: ``vix_before(vix, dates)`` on the grader's VIX series and dates;
- ``q4.npz`` and ``q4_config.json``: ``MyDense`` on the grader's weights and inputs, built directly, rebuilt from
  its ``get_config``, and inside a small model saved and reloaded (``.keras``) here, outputs before (the model
  called) and after (``predict``: compiled);
- ``q5.npz``: ``loss_and_grads`` at the grader's weights, and the weights and losses ``fit_by_hand`` reaches on
  the grader's task, from the grader's initial weights, in a model of Keras's own layers;
- ``export.json``: what was saved, and every error.

Nothing here is trusted (the student's code runs in the same process): the grader judges the files, as data.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from dl4f.artifacts import Report, callable_from, save_trained
from dl4f.artifacts import floats as _floats
from dl4f.artifacts import read_npz as _npz
from dl4f.artifacts import save_keras as _save_keras
from dl4f.artifacts import short_error as _short_error
from dl4f.export_facts import sublayer_classes
from dl4f.verify_programs import PROGRAMS, save_program

# The notebook's globals the export reads: dl4f.submission_run saves them after each cell, dl4f.export_run restores them.
NAMES = ("mlp_forward", "model_mlp", "model_vix", "build_mlp", "build_two_inputs", "model_linear", "vix_before",
         "MyDense", "loss_and_grads", "fit_by_hand")


def _grad_probe(task, k: int) -> tuple:
    """The arguments of ``loss_and_grads(model, trainable, X, y)`` on the grader's probe ``k``, without the model."""
    return ([task[f"g{k}_{n}"] for n in ("W1", "b1", "W2", "b2")], task[f"g{k}_X"].astype("float32"),
            task[f"g{k}_y"].astype("float32"))


def program_probes(inputs_dir) -> dict[str, list[tuple]]:
    """The calls on which the grader's verifier runs the notebook's JAX programs (``dl4f.verify_programs``)."""
    task = _npz(Path(inputs_dir) / "train.npz")
    return {f"loss_and_grads_{k}": [_grad_probe(task, k)] for k in range(int(task["n_grad_probes"]))}


def _mlp(d: int, h: int, weights):
    """A 2-layer MLP of Keras's own layers (the grader's, not the student's), with the given weights (or Keras's
    initial ones: None)."""
    import keras

    model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(h, activation="relu"), keras.layers.Dense(1)])
    if weights is not None:
        model.set_weights([np.asarray(w, dtype="float32") for w in weights])
    return model


def warm(inputs_dir):
    """The export's warm-up (``dl4f.export_run``, while the notebook runs, before any student code is loaded): the
    computations the export will ask of the notebook's code, done with Keras's own ``Dense`` and the course's MSE
    (``dl4f.training_loop.mse``) at the grader's shapes, one step per ``next``.

    Eager JAX compiles each operation once per shape and keeps it for the process (``loss_and_grads`` on three
    batch sizes is about 75 programs; a layer's random initial weights, one per shape): a notebook's answers made
    of the same operations then find them compiled (measured on the reference solution: the export 3.6 s -> 1.1 s).
    The steps come in the order of what they save; at ``go`` the rest is skipped.
    It changes how fast the export goes, never what it records: Keras's global state (layer names, the default
    dtype policy that the first layer built fixes) is reset after it (``export_run.forget_warm_up``)."""
    import jax
    import keras
    import sklearn.linear_model  # noqa: F401  (model_linear's class: restoring it imports scikit-learn, 0.2 s)

    from dl4f import tp_intro
    from dl4f.training_loop import mse

    inputs = Path(inputs_dir)
    spec, task = _npz(inputs / "intro.npz"), _npz(inputs / "train.npz")
    yield
    d, h = task["X"].shape[1], task["W1"].shape[1]
    X, y, batch = task["X"].astype("float32"), task["y"].astype("float32"), int(task["batch_size"])
    probes = [(task[f"g{k}_X"], task[f"g{k}_y"]) for k in range(int(task["n_grad_probes"]))]
    batches = [(X[:batch], y[:batch])] + ([(X[-(len(X) % batch):], y[-(len(X) % batch):])] if len(X) % batch else [])

    def gradient(xb, yb):  # loss_and_grads: the course's MSE, its gradient (eager), an SGD update
        model = _mlp(d, h, [task[n] for n in ("W1", "b1", "W2", "b2")])
        weights = [v.value for v in model.trainable_variables]
        xb, yb = xb.astype("float32"), yb.astype("float32")
        _, grads = jax.value_and_grad(lambda w: mse(yb, model.stateless_call(w, [], xb)[0]))(weights)
        [w - float(task["learning_rate"]) * g for w, g in zip(weights, grads, strict=True)]

    for xb, yb in probes:  # loss_and_grads on its probes first: 25 programs a batch size (most of the export)
        gradient(xb, yb)
        yield
    for i in range(int(spec["n_probes"])):  # MyDense's probes: its weights' initialisation, its call
        p = {k[len(f"p{i}_"):]: v for k, v in spec.items() if k.startswith(f"p{i}_")}
        width, units = p["W1"].shape
        layer = keras.layers.Dense(int(units), activation=str(p["activation"]) or None)
        model = keras.Sequential([keras.Input((int(width),)), layer, keras.layers.Dense(1)])
        model.set_weights([p[k].astype("float32") for k in ("W1", "b1", "W2", "b2")])
        model(p["X"].astype("float32"))
        yield
    for window, hidden in ((tp_intro.WINDOW, tp_intro.HIDDEN), (int(spec["build_window"]), int(spec["build_hidden"]))):
        for width in (window, window + 1):  # the models' initial weights (restored ones, the builders'): at the
            _mlp(width, hidden, None)  # TP's sizes and the grader's, on the window or the window and the VIX
    yield
    for xb, yb in batches:  # last: fit_by_hand's batches, which an eager loop runs (a jitted one compiles anew)
        gradient(xb, yb)
        yield


def export_artifacts(namespace: dict, out_dir, inputs_dir) -> dict:
    """Save the artifacts of the introductory TP from ``namespace`` (the notebook's globals) into ``out_dir``."""
    out, inputs = Path(out_dir), Path(inputs_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    attempt = report.attempt

    def get(name, kind="function"):
        return callable_from(namespace, name, kind)

    spec = _npz(inputs / "intro.npz")
    probes = [{k[len(f"p{i}_"):]: v for k, v in spec.items() if k.startswith(f"p{i}_")}
              for i in range(int(spec["n_probes"]))]

    def q1():
        fn, arrays = get("mlp_forward"), {}
        for i, p in enumerate(probes):
            try:
                arrays[f"out_{i}"] = _floats(fn(p["X"], p["W1"], p["b1"], p["W2"], p["b2"]))
            except Exception as exc:  # noqa: BLE001
                arrays[f"error_{i}"] = np.array(_short_error(exc))
        np.savez(out / "q1.npz", **arrays)
        return "saved"

    def models():
        for name in ("model_mlp", "model_vix"):
            attempt(name, lambda n=name: save_trained(namespace, n, out))
        d, h = int(spec["build_window"]), int(spec["build_hidden"])
        for name in ("build_mlp", "build_two_inputs"):
            attempt(name, lambda n=name: _save_keras(get(n)(d, h), out / f"{n}.keras"))
        if "model_linear" in namespace:
            def linear():
                m = namespace["model_linear"]
                np.savez(out / "model_linear.npz", coef=_floats(m.coef_).reshape(-1),
                         intercept=_floats(m.intercept_).reshape(-1))
                return "saved"
            attempt("model_linear", linear)
        return "done"

    def q3():
        import pandas as pd

        task = _npz(inputs / "vix.npz")
        vix = pd.Series(task["values"], index=pd.DatetimeIndex(task["dates"].astype("datetime64[ns]"), name="Date"),
                        name="vix")
        dates = pd.DatetimeIndex(task["queries"].astype("datetime64[ns]"))
        np.savez(out / "q3.npz", values=_floats(get("vix_before")(vix, dates)).reshape(-1))
        return "saved"

    def q4():
        import keras

        cls = namespace.get("MyDense")
        if not isinstance(cls, type):
            raise NameError("MyDense is not defined as a class (did its cell run?)")
        arrays, configs = {}, {}
        for i, p in enumerate(probes):
            act = str(p["activation"]) or None
            units = int(p["W1"].shape[1])
            try:
                layer = cls(units, activation=act)
                layer.build((None, p["X"].shape[1]))
                layer.set_weights([p["W1"].astype("float32"), p["b1"].astype("float32")])
                arrays[f"out_{i}"] = _floats(layer(p["X"].astype("float32")))
                configs[f"sublayers_{i}"] = sublayer_classes(layer)  # run-time fact: no ready-made Dense inside
                config = layer.get_config()
                configs[str(i)] = json.loads(json.dumps(config, default=str))
                twin = cls.from_config(config)
                twin.build((None, p["X"].shape[1]))
                twin.set_weights([p["W1"].astype("float32"), p["b1"].astype("float32")])
                arrays[f"config_out_{i}"] = _floats(twin(p["X"].astype("float32")))
                model = keras.Sequential([keras.Input((p["X"].shape[1],)), cls(units, activation=act),
                                          keras.layers.Dense(1)])
                model.set_weights([p[k].astype("float32") for k in ("W1", "b1", "W2", "b2")])
                arrays[f"model_out_{i}"] = _floats(model(p["X"].astype("float32"), training=False))
                with tempfile.TemporaryDirectory() as tmp:
                    model.save(Path(tmp) / "m.keras")
                    again = keras.saving.load_model(Path(tmp) / "m.keras", custom_objects={"MyDense": cls})
                # compiled, as fit and predict run it: a call that leaves keras.ops for NumPy fails here
                arrays[f"reloaded_out_{i}"] = _floats(again.predict(p["X"], verbose=0))
            except Exception as exc:  # noqa: BLE001
                arrays[f"error_{i}"] = np.array(_short_error(exc))
        np.savez(out / "q4.npz", **arrays)
        (out / "q4_config.json").write_text(json.dumps(configs, default=str)[:100000])
        return "saved"

    def q5():
        task = _npz(inputs / "train.npz")
        arrays = {}
        d, h = task["X"].shape[1], task["W1"].shape[1]
        fn = get("loss_and_grads")
        for k in range(int(task["n_grad_probes"])):
            weights = [task[f"g{k}_{n}"] for n in ("W1", "b1", "W2", "b2")]
            model = _mlp(d, h, weights)
            try:
                loss, grads = fn(model, [v.value for v in model.trainable_variables], task[f"g{k}_X"].astype("float32"),
                                 task[f"g{k}_y"].astype("float32"))
                arrays[f"loss_{k}"] = _floats(loss).reshape(-1)
                try:  # the compiled JAX program, run by the grader's verifier (dl4f.verify_programs) on the probe
                    save_program(lambda w, X, y, m=model: fn(m, w, X, y), _grad_probe(task, k),
                                 out / PROGRAMS / f"loss_and_grads_{k}.jaxexport")
                except Exception as exc:  # noqa: BLE001  (recorded: the verifier reports the program missing)
                    arrays[f"program_error_{k}"] = np.array(_short_error(exc))
                for n, g in zip(("W1", "b1", "W2", "b2"), grads, strict=True):
                    arrays[f"grad_{k}_{n}"] = _floats(g)
            except Exception as exc:  # noqa: BLE001
                arrays[f"error_{k}"] = np.array(_short_error(exc))
        try:
            model = _mlp(d, h, [task[n] for n in ("W1", "b1", "W2", "b2")])
            losses = get("fit_by_hand")(model, task["X"].astype("float32"), task["y"].astype("float32"),
                                        epochs=int(task["epochs"]), batch_size=int(task["batch_size"]),
                                        learning_rate=float(task["learning_rate"]))
            arrays["losses"] = _floats(losses).reshape(-1)
            for n, w in zip(("W1", "b1", "W2", "b2"), model.get_weights(), strict=True):
                arrays[f"trained_{n}"] = _floats(w)
        except Exception as exc:  # noqa: BLE001
            arrays["fit_error"] = np.array(_short_error(exc))
        np.savez(out / "q5.npz", **arrays)
        return "saved"

    attempt("mlp_forward", q1)
    attempt("models", models)
    attempt("vix_before", q3)
    attempt("MyDense", q4)
    attempt("training_loop", q5)
    return report.write(out)
