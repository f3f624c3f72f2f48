"""Reading what a sandboxed run left behind, as untrusted data: files, arrays, Keras models.

Every path is checked before it is opened: a regular file inside the artifacts folder, not a symbolic link
(a submission could leave a link to the gradebook or to ``/etc/shadow``), under a size limit. A Keras model is
loaded only if its configuration names nothing but Keras's own classes (no class, function or module of the
student's; no ``Lambda``), with Keras's ``safe_mode``, without compiling it.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

MAX_FILE_MB = 200


class BadArtifact(AssertionError):
    """An artifact is missing, malformed or not allowed; the message says which and why."""


def regular_file(folder: Path, name: str, max_mb: float = MAX_FILE_MB) -> Path:
    """``folder/name`` if it is a regular file (no link) inside ``folder`` under ``max_mb``; else ``BadArtifact``."""
    if "/" in name or name.startswith("."):
        raise BadArtifact(f"invalid artifact name {name!r}")
    path = Path(folder) / name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise BadArtifact(f"{name} was not produced") from None
    if not stat.S_ISREG(info.st_mode):
        raise BadArtifact(f"{name} is not a regular file (a link or a folder): refused")
    if info.st_size > max_mb * 1024**2:
        raise BadArtifact(f"{name} is {info.st_size / 1024**2:.0f} MB, over the {max_mb} MB limit")
    return path


def read_json(folder: Path, name: str) -> object:
    path = regular_file(folder, name, max_mb=5)
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArtifact(f"{name} is not valid JSON: {exc}") from exc


def read_npz(folder: Path, name: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (no pickled objects)."""
    path = regular_file(folder, name)
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as exc:  # noqa: BLE001  (a malformed file is the student's problem, reported)
        raise BadArtifact(f"{name} cannot be read as arrays: {exc}") from exc


def _modules(config) -> set[str]:
    found = set()
    if isinstance(config, dict):
        for key, value in config.items():
            if key == "module" and isinstance(value, str):
                found.add(value)
            elif key == "module" and value is not None:
                found.add(repr(value))
            found |= _modules(value)
    elif isinstance(config, list):
        for value in config:
            found |= _modules(value)
    return found


def _class_names(config) -> set[str]:
    found = set()
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str):
            found.add(config["class_name"])
        for value in config.values():
            found |= _class_names(value)
    elif isinstance(config, list):
        for value in config:
            found |= _class_names(value)
    return found


def model_config(folder: Path, name: str) -> dict:
    """The configuration stored in a ``.keras`` file (a zip), read without building anything."""
    path = regular_file(folder, name)
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("config.json")
            if info.file_size > 5 * 1024**2:
                raise BadArtifact(f"{name}: config.json is too large")
            total = sum(i.file_size for i in zf.infolist())
            if total > MAX_FILE_MB * 1024**2:
                raise BadArtifact(f"{name} expands to {total / 1024**2:.0f} MB: refused")
            return json.loads(zf.read("config.json"))
    except BadArtifact:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BadArtifact(f"{name} is not a model saved by Keras (model.save): {exc}") from exc


def load_model(folder: Path, name: str):
    """Load ``folder/name`` (a ``.keras`` file) if it is made of Keras's own layers only; else ``BadArtifact``."""
    import keras

    config = model_config(folder, name)
    foreign = sorted(m for m in _modules(config) if not (m == "keras" or m.startswith("keras.")))
    if foreign:
        raise BadArtifact(f"{name}: the model uses classes or functions that are not Keras's ({', '.join(foreign)}); "
                          "build it from keras.layers only")
    if "Lambda" in _class_names(config):
        raise BadArtifact(f"{name}: Lambda layers are not accepted; build the model from keras.layers only")
    try:
        return keras.saving.load_model(regular_file(folder, name), compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001
        raise BadArtifact(f"{name} cannot be loaded with Keras's own layers: {str(exc)[:300]}") from exc


class ArtifactCache:
    """The artifacts of one run, each read (or loaded) once; a bad one raises its ``BadArtifact`` on every use.

    ``cached(key, fn)`` keeps any derived result (a score) the same way: an ``AssertionError`` is remembered and
    raised again, so every graded cell that needs a broken artifact fails with the same reason.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._values: dict = {}

    def cached(self, key: str, fn):
        if key not in self._values:
            try:
                self._values[key] = fn()
            except AssertionError as exc:
                self._values[key] = exc
        value = self._values[key]
        if isinstance(value, AssertionError):
            raise value
        return value

    def npz(self, name: str) -> dict[str, np.ndarray]:
        return self.cached(name, lambda: read_npz(self.folder, name))

    def json(self, name: str) -> object:
        return self.cached(name, lambda: read_json(self.folder, name))

    def model(self, name: str):
        """``name.keras``, loaded with Keras's own layers only (see ``load_model``)."""
        return self.cached(name + ".keras", lambda: load_model(self.folder, f"{name}.keras"))


def array(arrays: dict, key: str, shape: tuple, what: str) -> np.ndarray:
    """``arrays[key]`` as a finite float64 array of ``shape``; else ``AssertionError`` saying why, with the export's
    error when the key is missing (``error_<key>``, else one of the same index, else any)."""
    if key not in arrays:
        errors = [k for k in arrays if k.startswith("error") or k.endswith("error")]
        suffix = key.rsplit("_", 1)[-1]
        ranked = ([k for k in errors if k == f"error_{key}"] + [k for k in errors if k.rsplit("_", 1)[-1] == suffix]
                  + errors)
        error = str(arrays[ranked[0]])[:300] if ranked else ""
        raise AssertionError(f"{what}: no result" + (f" (error: {error})" if error else
                                                     " (did its cell run? see export.json)"))
    value = arrays[key]
    assert value.dtype.kind in "fiub", f"{what}: not numbers ({value.dtype})"
    value = np.asarray(value, dtype="float64")
    assert value.size == int(np.prod(shape)), f"{what}: expected shape {shape}, got {value.shape}"
    value = value.reshape(shape)
    assert np.isfinite(value).all(), f"{what}: holds NaN or infinite values"
    return value


def close(got, ref, what: str, tol: float) -> float:
    """The largest absolute error of ``got`` against ``ref``; ``AssertionError`` if over ``tol * max(1, max|ref|)``."""
    ref = np.asarray(ref, dtype="float64")
    err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    assert err <= tol * scale, f"{what}: off by {err:.2e} (tolerance {tol:g} x {scale:.3g})"
    return err
