"""The notebook's objects saved after each cell: runs INSIDE the student's kernel, sent by ``dl4f.submission_run``.

A module of its own, light to import (json and pathlib; cloudpickle when it saves), because the kernel imports it
in every graded run.
"""

from __future__ import annotations

import json
from pathlib import Path

CONFIG = "config.json"  # in the snapshot folder: process_config() after the last cell that ended
_last_ids: dict[str, int] = {}


def snapshot(namespace: dict, names: list[str], mentioned: list[str], folder: str, everything: bool = False) -> None:
    """Save ``namespace[name]`` for each of ``names`` that changed, is ``mentioned`` or (``everything``) all.

    Runs in the student's kernel (the runner sends the call after each cell): untrusted, best effort. A name no
    longer defined loses its snapshot; one that cannot be pickled gets ``<name>.error`` with the reason.
    """
    import cloudpickle

    out = Path(folder)
    out.mkdir(exist_ok=True)
    (out / CONFIG).write_text(json.dumps(process_config()))
    for name in names:
        path, error = out / f"{name}.pkl", out / f"{name}.error"
        if name not in namespace:
            for p in (path, error):
                p.unlink(missing_ok=True)
            _last_ids.pop(name, None)
            continue
        value = namespace[name]
        if not everything and name not in mentioned and _last_ids.get(name) == id(value):
            continue
        tmp = out / f".{name}.tmp"
        try:
            with open(tmp, "wb") as f:
                cloudpickle.dump(value, f)
            tmp.replace(path)
            error.unlink(missing_ok=True)
        except Exception as exc:  # noqa: BLE001  (reported to the export, which reports it to the student)
            tmp.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            error.write_text(f"{name} could not be saved after its cell: {type(exc).__name__}: {exc}"[:400])
        _last_ids[name] = id(value)


def process_config() -> dict:
    """The process-wide settings of numerical libraries a cell may have changed (``jax_enable_x64``, Keras's float
    type), which the export's fresh process must share for the notebook's functions to compute as they did."""
    import sys

    config = {}
    if "jax" in sys.modules:
        config["jax_enable_x64"] = bool(sys.modules["jax"].config.read("jax_enable_x64"))
    if "keras" in sys.modules:
        config["keras_floatx"] = str(sys.modules["keras"].config.floatx())
    return config
