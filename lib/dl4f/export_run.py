"""Export a graded run's artifacts: runs INSIDE a fresh sandbox, after every process of the notebook's run is dead.

``python -m dl4f.export_run --export MODULE`` (in a folder holding ``snapshot/``, ``inputs/`` and an empty
``artifacts/``): imports the TP's export module ``MODULE`` first (with ``--wait``, it then warms up and waits for
the grader's ``go``: ``dl4f.warm_start``; meanwhile, once the grader's inputs are in ``inputs/``, it runs the
module's ``warm(inputs)`` if it has one: the grader's own computations at the inputs' shapes, which fill JAX's
caches before any student code is loaded), then restores the notebook's objects that
``dl4f.submission_run`` saved (``snapshot/<name>.pkl``, for each name of ``MODULE.NAMES``), then runs
``MODULE.export_artifacts(namespace, "artifacts", "inputs")``, which calls them on the grader's inputs and saves
what they return, as data.

Why a process of its own: nothing the notebook's cells did to their process (a patched ``callable_from``, a replaced
``drive``, a module rebound) exists here; the grader's problems (``inputs/``) are drawn by the grader's judge into
folders the notebook's sandbox never mounts (this one's included), so no cell could read them; and ``artifacts/`` is
a folder the notebook never saw, so no file it wrote is read as an artifact. The restored objects are the student's
code and run here when the export calls them (and, for an object with a pickling hook, when it is restored): what
this process records is only what they returned. So the grader reads the files this leaves as data, in a process of
its own; the rules refuse, anywhere in the notebook, the code that would patch this process from inside (assignments
to modules, dynamic lookups, pickling hooks such as ``__reduce__``: ``dl4f_grading.source_checks``), and the
properties that matter are proven where no student code ran (the judge's references; JAX programs run by
``dl4f.verify_programs``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from dl4f import warm_start

SNAPSHOT = "snapshot"


def restore(names, folder: Path) -> tuple[dict, dict]:
    """``({name: object}, {name: why it is missing})`` from the snapshot folder."""
    import cloudpickle

    namespace, missing = {}, {}
    for name in names:
        path, error = folder / f"{name}.pkl", folder / f"{name}.error"
        if path.is_file():
            try:
                with open(path, "rb") as f:
                    namespace[name] = cloudpickle.load(f)
            except Exception as exc:  # noqa: BLE001  (reported in export.json)
                missing[name] = f"error: {name} could not be restored: {type(exc).__name__}: {exc}"[:400]
        elif error.is_file():
            missing[name] = "error: " + error.read_text(errors="replace")[:400]
    return namespace, missing


def apply_config(folder: Path) -> None:
    """Apply the notebook's process-wide settings (``dl4f.snapshot.process_config``): data, checked, not code."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return
    if not isinstance(config, dict):
        return
    # a default value needs no import (Keras costs 3 s to import: a TP without Keras need not pay it here); this
    # process starts with the defaults (its environment and home folder are the sandbox's, fresh)
    if isinstance(config.get("jax_enable_x64"), bool) and (config["jax_enable_x64"] or "jax" in sys.modules):
        import jax

        jax.config.update("jax_enable_x64", config["jax_enable_x64"])
    if config.get("keras_floatx") in ("float16", "bfloat16", "float32", "float64") and (
            config["keras_floatx"] != "float32" or "keras" in sys.modules):
        import keras

        keras.config.set_floatx(config["keras_floatx"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dl4f.export_run", description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True, help="the TP's export module (dl4f.<tp>_artifacts)")
    parser.add_argument("--wait", action="store_true", help="warm up, then wait for 'go' on standard input "
                        "(dl4f.warm_start: the grader starts the export while the notebook runs)")
    args = parser.parse_args(argv)
    if args.wait:
        warm_start.lower_priority()  # the notebook's run has the cores first
    module = importlib.import_module(args.export)  # the export's code is bound before any student code loads
    warmed = {"warm-up steps": 0}  # what the warm-up did before go: for the benchmarks only
    warming = (lambda: _warming(module, Path("inputs"), warmed)) if hasattr(module, "warm") else None
    if args.wait and not warm_start.wait_for_go(warming=warming):
        return 0
    forget_warm_up()
    t0 = time.perf_counter()
    apply_config(Path(SNAPSHOT))
    namespace, missing = restore(module.NAMES, Path(SNAPSHOT))
    restored = time.perf_counter() - t0
    out = Path("artifacts")
    module.export_artifacts(namespace, out, Path("inputs"))
    _add(out / "export.json", {f"restore {name}": why for name, why in missing.items()})
    _add(out / "export_seconds.json", {"restore": round(restored, 2), **(warmed if warming else {})})
    return 0


def _warming(module, inputs: Path, warmed: dict):
    """The steps of the export module's warm-up (``MODULE.warm(inputs)``), once the grader's inputs are in their
    folder (the waiting judge copies them there while the notebook runs); None until then. ``warmed`` counts the
    steps done and says whether all were."""
    if not inputs.is_dir():
        return None

    def counted():
        for _ in module.warm(inputs):
            warmed["warm-up steps"] += 1
            yield
        warmed["warm-up done"] = 1
    warmed["warm-up done"] = 0
    return counted()


def forget_warm_up() -> None:
    """Keras's global state as a fresh process has it, whether the warm-up ended or ``go`` stopped it: its layer
    names, and the default dtype policy, which the first layer built fixes from ``floatx`` (the notebook's
    ``floatx``, applied next by ``apply_config``, must hold for the layers the export builds)."""
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session(free_memory=False)


def _add(path: Path, entries: dict) -> None:
    """Add ``entries`` to the JSON table in ``path`` that the export's report wrote (best effort)."""
    try:
        table = json.loads(path.read_text())
        table.update(entries)
        path.write_text(json.dumps(table, indent=1))
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    warm_start.exit_now(main())  # its files are closed: no teardown
