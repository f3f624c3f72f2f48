"""What a graded run of the callbacks TP hands the grader: runs in the sandbox, after the student's last cell.

``export_artifacts(namespace, out_dir, inputs_dir)`` saves, from the notebook's variables:

- the trained models (``models[kind]`` for each kind of ``tp_callbacks.KINDS``, ``model_recorded``,
  ``model_qlike``) in Keras's format (``<name>.keras``): the grader reloads them with Keras's own layers and
  scores them itself on its test split; their training histories (``histories.json``);
- the real run's records: ``recorder.history`` and the QLIKE stopper's ``scores`` (``records.json``);
- the student's callbacks driven on the grader's scripted trainings (``inputs_dir/scripts.npz``, read then
  deleted before any callback runs), by ``drive``:
  a one-layer stand-in model whose weights and learning rate the script sets each epoch, with scripted logs;
  what the callbacks did (stop epoch, learning rates, final weights, recorded values) goes to ``driven.npz``;
- ``grader_qlike.keras``: the TP's model trained with the TP's recipe by the grader, stopped by the student's
  ``QLikeEarlyStopping`` on the validation split (the model Question 3 scores, not the notebook's ``model_qlike``);
- ``export.json``: what was saved, and every error.

``drive`` is also what the grader runs on Keras's own callbacks to know what a correct callback does.
Nothing here is trusted (the student's code runs in the same process): the grader judges the files, as data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dl4f.artifacts import Report
from dl4f.artifacts import read_npz as _npz

MODELS = ("model_none", "model_early_stopping", "model_reduce_lr", "model_both", "model_recorded", "model_qlike")
# The notebook's globals the export reads: dl4f.submission_run saves them after each cell, dl4f.export_run restores them.
NAMES = (*MODELS, "models", "histories", "history_recorded", "history_qlike", "recorder", "stopper", "make_callbacks",
         "TrainingRecorder", "QLikeEarlyStopping")


def stand_in(n_inputs: int, learning_rate: float):
    """The driven model: Dense(1) on ``n_inputs`` inputs, compiled with SGD at ``learning_rate``."""
    import keras

    model = keras.Sequential([keras.Input((n_inputs,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def drive(callbacks, weights: np.ndarray, learning_rates: np.ndarray, logs: dict | None = None) -> dict:
    """Run ``callbacks`` over a scripted training of ``len(weights)`` epochs, as ``model.fit`` calls them.

    ``weights`` is (epochs + 1, n + 1): row 0 the initial weights, row e + 1 the weights at the end of epoch e
    (kernel then bias of the stand-in Dense(1)). Before epoch e the optimizer's learning rate is set to
    ``learning_rates[e]`` (unless a callback changed it at the previous epoch's end: a scheduler's change is
    kept); ``logs[key][e]`` are the epoch's logs. Returns the epochs run, the stop epoch (-1: none), the
    learning rate after each epoch's callbacks, and the final weights after ``on_train_end``.
    """
    import keras

    weights = np.asarray(weights, dtype="float32")
    n = weights.shape[1] - 1
    model = stand_in(n, float(learning_rates[0]))
    callbacks = list(callbacks)

    def set_weights(row):
        model.set_weights([row[:n].reshape(n, 1), row[n:]])

    def lr():
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))

    set_weights(weights[0])
    for cb in callbacks:
        cb.set_model(model)
    model.stop_training = False
    for cb in callbacks:
        cb.on_train_begin({})
    after, stop, assigned = [], -1, lr()
    for epoch in range(len(weights) - 1):
        if lr() == assigned:  # no callback moved it since the script set it: follow the script
            model.optimizer.learning_rate.assign(float(learning_rates[epoch]))
            assigned = lr()
        for cb in callbacks:
            cb.on_epoch_begin(epoch, {})
        set_weights(weights[epoch + 1])
        epoch_logs = {k: float(v[epoch]) for k, v in (logs or {}).items()}
        for cb in callbacks:
            cb.on_epoch_end(epoch, epoch_logs)
        after.append(lr())
        if model.stop_training:
            stop = epoch
            break
    for cb in callbacks:
        cb.on_train_end({})
    final = np.concatenate([np.asarray(w, dtype="float64").reshape(-1) for w in model.get_weights()])
    return {"epochs": np.array(len(after)), "stop": np.array(stop), "lr_after": np.array(after, dtype="float64"),
            "final": final}


def _floats(values) -> np.ndarray:
    out = np.asarray([float(v) for v in values], dtype="float64")
    return out


def export_artifacts(namespace: dict, out_dir, inputs_dir) -> dict:
    """Save the artifacts of the callbacks TP from ``namespace`` (the notebook's globals) into ``out_dir``."""
    out, inputs = Path(out_dir), Path(inputs_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    driven: dict[str, np.ndarray] = {}

    def attempt(name, fn):
        if not report.attempt(name, fn):
            driven[f"{name}__error"] = np.array(report.steps[name])

    def get(name):
        if name not in namespace:
            raise NameError(f"{name} is not defined (did its cell run?)")
        return namespace[name]

    def save_model(name):
        import keras

        model = get(name)
        if not isinstance(model, keras.Model):
            raise TypeError(f"not a Keras model but {type(model).__name__}")
        model.save(out / f"{name}.keras")
        return "saved"

    models = namespace.get("models")
    for name in MODELS:
        if name.startswith("model_") and isinstance(models, dict) and name[6:] in models and name not in namespace:
            namespace = {**namespace, name: models[name[6:]]}
        attempt(name, lambda n=name: save_model(n))

    def histories():
        table = {}
        found = namespace.get("histories")
        if isinstance(found, dict):
            for kind, h in found.items():
                table[str(kind)] = {str(k): [float(v) for v in vs] for k, vs in dict(h).items()}
        for name in ("history_recorded", "history_qlike"):
            if isinstance(namespace.get(name), dict):
                table[name] = {str(k): [float(v) for v in vs] for k, vs in namespace[name].items()}
        (out / "histories.json").write_text(json.dumps(table)[:2_000_000])
        return "saved " + ", ".join(sorted(table))

    def records():
        table = {}
        recorder = namespace.get("recorder")
        if recorder is not None:
            h = getattr(recorder, "history", {})
            table["recorder"] = {k: [float(v) for v in h.get(k, [])] for k in ("learning_rate", "update_norm")}
        stopper = namespace.get("stopper")
        if stopper is not None:
            table["stopper"] = {"scores": [float(v) for v in getattr(stopper, "scores", [])]}
        (out / "records.json").write_text(json.dumps(table)[:2_000_000])
        return "saved " + ", ".join(sorted(table))

    attempt("histories", histories)
    attempt("records", records)

    scripts = _npz(inputs / "scripts.npz") if (inputs / "scripts.npz").exists() else {}
    try:  # the callbacks run next: they find the scripts only in what the driver hands them
        (inputs / "scripts.npz").unlink()
    except OSError:
        pass

    def scripted(prefix):
        return scripts[f"{prefix}_weights"], 10.0 ** scripts[f"{prefix}_log_lr"]

    def drive_make_callbacks(kind, k):
        def run():
            weights, lrs = scripted(f"q1_{k}")
            callbacks = get("make_callbacks")(kind)
            result = drive(callbacks, weights, lrs, {"val_loss": scripts[f"q1_{k}_val_loss"],
                                                     "loss": scripts[f"q1_{k}_loss"]})
            driven.update({f"q1_{k}_{kind}_{key}": v for key, v in result.items()})
            return "driven"
        return run

    def drive_recorder(k):
        def run():
            weights, lrs = scripted(f"q2_{k}")
            cb = get("TrainingRecorder")()
            result = drive([cb], weights, lrs, {"loss": scripts[f"q2_{k}_loss"]})
            h = getattr(cb, "history", None)
            if not isinstance(h, dict):
                raise TypeError("TrainingRecorder.history must be a dict of lists")
            driven[f"q2_{k}_learning_rate"] = _floats(h.get("learning_rate", []))
            driven[f"q2_{k}_update_norm"] = _floats(h.get("update_norm", []))
            driven[f"q2_{k}_epochs"] = result["epochs"]
            return "driven"
        return run

    def drive_recorder_with_reduce():
        import keras

        import dl4f.tp_callbacks as tpc

        weights, lrs = scripted("q2r")
        reduce = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=tpc.LR_FACTOR, patience=tpc.LR_PATIENCE,
                                                   min_lr=tpc.MIN_LR)
        cb = get("TrainingRecorder")()
        drive([cb, reduce], weights, lrs, {"val_loss": scripts["q2r_val_loss"], "loss": scripts["q2r_loss"]})
        driven["q2r_learning_rate"] = _floats(getattr(cb, "history", {}).get("learning_rate", []))
        return "driven"

    def grader_qlike():
        """The TP's model and recipe, stopped by the student's QLikeEarlyStopping: the grader's own run."""
        import dl4f.tp_callbacks as tpc

        data = tpc.load_data()
        model = tpc.build_model(seed=0)
        stopper = get("QLikeEarlyStopping")((data.X_val, data.y_val), patience=tpc.PATIENCE)
        tpc.train(model, data, [stopper], tpc.epochs())
        model.save(out / "grader_qlike.keras")
        return "trained"

    def drive_stopper(k):
        def run():
            weights, lrs = scripted(f"q3_{k}")
            X, y = scripts[f"q3_{k}_X"].astype("float32"), scripts[f"q3_{k}_y"].astype("float32")
            patience, restore = int(scripts[f"q3_{k}_patience"]), bool(scripts[f"q3_{k}_restore"])
            cb = get("QLikeEarlyStopping")((X, y), patience=patience, restore_best_weights=restore)
            result = drive([cb], weights, lrs, {"loss": np.ones(len(weights) - 1)})
            driven.update({f"q3_{k}_{key}": v for key, v in result.items()})
            driven[f"q3_{k}_scores"] = _floats(getattr(cb, "scores", []))
            return "driven"
        return run

    if scripts:
        import dl4f.tp_callbacks as tpc

        for k in range(int(scripts["n_q1"])):
            for kind in tpc.KINDS:
                attempt(f"make_callbacks_{kind}_{k}", drive_make_callbacks(kind, k))
        for k in range(int(scripts["n_q2"])):
            attempt(f"TrainingRecorder_{k}", drive_recorder(k))
        for k in range(int(scripts["n_q3"])):
            attempt(f"QLikeEarlyStopping_{k}", drive_stopper(k))
        attempt("TrainingRecorder_reduce", drive_recorder_with_reduce)
        attempt("grader_qlike", grader_qlike)
    np.savez(out / "driven.npz", **driven)
    return report.write(out)
