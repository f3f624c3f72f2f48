"""Helpers of the TPs' export modules (``dl4f.<tp>_artifacts``), which run inside the grading sandbox.

What a graded run leaves for the grader: arrays (``.npz``, never pickled), Keras models (``.keras``), JSON, and
the error text of every step that failed. Nothing here is trusted: the grader reads these files as data.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def short_error(exc: BaseException) -> str:
    """``Type: message`` of an exception, at most 400 characters (for ``export.json``)."""
    return f"{type(exc).__name__}: {exc}"[:400]


def read_npz(path: Path) -> dict:
    """The arrays of an ``.npz`` file of the grader's inputs (no pickled objects)."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def floats(value) -> np.ndarray:
    """A float64 array of ``value`` (a JAX or NumPy array, a pandas object, a number); raises if not numbers."""
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    out = np.asarray(value, dtype="float64")
    if out.dtype == object:
        raise TypeError(f"not an array of numbers but {type(value).__name__}")
    return out


def save_keras(model, path: Path) -> str:
    """``model.save(path)`` if ``model`` is a Keras model; else ``TypeError``."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"not a Keras model but {type(model).__name__}")
    model.save(path)
    return "saved"


def save_trained(namespace: dict, name: str, out_dir: Path) -> str:
    """Save the notebook's trained model ``name`` (a global of ``namespace``) as ``out_dir/<name>.keras``."""
    if name not in namespace:
        raise NameError(f"{name} is not defined (did its training cell run?)")
    return save_keras(namespace[name], Path(out_dir) / f"{name}.keras")


class Report:
    """What an export did, step by step (``export.json``): each step's result, or ``"error: Type: message"``.

    ``attempt(name, fn)`` runs one step and records any failure instead of raising, so the other steps still run.
    """

    def __init__(self):
        self.steps: dict[str, str] = {}
        self.seconds: dict[str, float] = {}

    def attempt(self, name: str, fn) -> bool:
        """Run ``fn()`` as step ``name``; True if it succeeded."""
        t0 = time.perf_counter()
        try:
            self.steps[name] = fn()
            return True
        except Exception as exc:  # noqa: BLE001  (every failure is recorded, the others still run)
            self.steps[name] = "error: " + short_error(exc)
            return False
        finally:
            self.seconds[name] = round(time.perf_counter() - t0, 2)

    def write(self, out_dir: Path) -> dict[str, str]:
        """Write ``out_dir/export.json`` (and the seconds of each step, ``export_seconds.json``); return the steps."""
        (Path(out_dir) / "export.json").write_text(json.dumps(self.steps, indent=1))
        (Path(out_dir) / "export_seconds.json").write_text(json.dumps(self.seconds))
        return self.steps


def callable_from(namespace: dict, name: str, kind: str = "function"):
    """The notebook's global ``name`` if it can be called; else ``NameError`` saying its cell may not have run."""
    value = namespace.get(name)
    if not callable(value):
        raise NameError(f"{name} is not defined as a {kind} (did its cell run?)")
    return value
