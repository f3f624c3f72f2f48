"""What a graded run of the RNN TP hands the grader: runs in the sandbox, after the student's last cell.

``export_artifacts(namespace, out_dir, inputs_dir)`` saves, from the notebook's variables:

- each trained Keras model (``model_mlp``, ``model_lstm``...) and a fresh model from each builder
  (``build_mlp()``...) in Keras's format (``<name>.keras``), which the grader reloads with Keras's safe mode,
  standard layers only, and scores itself on the test split it builds;
- the linear regression as its coefficients (``model_linear.npz``: ``coef``, ``intercept``): the grader
  predicts with them itself (a pickled scikit-learn object would run code when loaded);
- for Question 4, the outputs of ``CustomLSTM`` on the probes the grader placed in ``inputs_dir``
  (``lstm_probes.npz``), and its predictions after training on each of the grader's tasks (``lstm_task_<k>.npz``);
- ``export.json``: what was saved, and the error of everything that could not be.

Nothing here is trusted (the student's code runs in the same process): the grader judges the files, as data.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np

from dl4f.artifacts import Report, save_trained
from dl4f.artifacts import read_npz as _npz
from dl4f.artifacts import save_keras as _save_keras

MODELS = ("model_mlp", "model_lstm", "model_gru", "model_lstm_2layer", "model_gru_2layer")
BUILDERS = ("build_mlp", "build_lstm", "build_gru", "build_lstm_2layer", "build_gru_2layer")
LSTM_CLASS = "CustomLSTM"
# The notebook's globals the export reads: dl4f.submission_run saves them after each cell, dl4f.export_run restores them.
NAMES = (*MODELS, *BUILDERS, "model_linear", "build_linear", LSTM_CLASS)


def _save_linear(model, path: Path) -> str:
    coef = np.asarray(model.coef_, dtype="float64").reshape(-1)
    intercept = np.asarray(model.intercept_, dtype="float64").reshape(-1)
    np.savez(path, coef=coef, intercept=intercept, cls=np.array(type(model).__name__))
    return "saved"


def export_artifacts(namespace: dict, out_dir, inputs_dir) -> dict:
    """Save the artifacts of the RNN TP from ``namespace`` (the notebook's globals) into ``out_dir``."""
    out, inputs = Path(out_dir), Path(inputs_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    attempt = report.attempt

    for name in MODELS:
        attempt(name, lambda n=name: save_trained(namespace, n, out))
    for name in BUILDERS:
        if callable(namespace.get(name)):
            attempt(name, lambda n=name: _save_keras(namespace[n](), out / f"{n}.keras"))
        else:
            report.steps[name] = "error: not defined"
    if "model_linear" in namespace:
        attempt("model_linear", lambda: _save_linear(namespace["model_linear"], out / "model_linear.npz"))
    if callable(namespace.get("build_linear")):
        attempt("build_linear", lambda: type(namespace["build_linear"]()).__name__)

    cls = namespace.get(LSTM_CLASS)
    if cls is None:
        report.steps[LSTM_CLASS] = "error: not defined"
    else:
        from dl4f import probes

        if (inputs / "lstm_probes.npz").exists():
            attempt("lstm_probes", lambda: _save_arrays(probes.probe_lstm(cls, _npz(inputs / "lstm_probes.npz")),
                                                        out / "lstm_probes.npz"))
        for task in sorted(inputs.glob("lstm_task_*.npz")):
            attempt(task.stem, lambda t=task: _save_arrays(probes.train_on_task(cls, _npz(t)), out / t.name))
    return report.write(out)


def _save_arrays(arrays: dict, path: Path) -> str:
    clean = {}
    for key, value in arrays.items():
        try:
            clean[key] = np.asarray(value)
        except Exception:  # noqa: BLE001
            clean[key] = np.array(traceback.format_exc()[-400:])
        if clean[key].dtype == object:
            clean[key] = np.array(str(value)[:400])
    np.savez(path, **clean)
    return "saved"
