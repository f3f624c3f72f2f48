"""Run a submitted notebook and export its artifacts: the part of grading that runs INSIDE the sandbox.

``python -m dl4f.submission_run NOTEBOOK --export MODULE`` executes every cell of ``NOTEBOOK`` in a fresh
``python3`` kernel (a cell that fails does not stop the run, as in nbgrader), recording after each cell how it
ended in ``cells.json``; then it runs ``MODULE.export_artifacts(globals(), "artifacts", "inputs")`` in the same
kernel, which saves what the grader will judge (trained models in Keras's format, arrays); then it writes the
executed notebook to ``executed.ipynb``. All paths are in the current folder (the sandbox's scratch folder).

Nothing here decides a grade, and nothing here is trusted: the student's code runs in the same kernel and could
change any of it. The grader only reads the files this leaves behind, as data, in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nbformat

CELLS = "cells.json"
EXECUTED = "executed.ipynb"
EXPORT_ID = "dl4f-export"


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _error_text(exc: BaseException) -> str:
    text = getattr(exc, "ename", None)
    if text:
        return f"{exc.ename}: {getattr(exc, 'evalue', '')}"[:500]
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:500]


def run(notebook: Path, export: str | None, cell_timeout: int) -> list[dict]:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(notebook, as_version=4)
    if export:
        code = (f"import importlib as _il\n_il.import_module({export!r}).export_artifacts(globals(), "
                "'artifacts', 'inputs')")
        cell = nbformat.v4.new_code_cell(code)
        cell.metadata["dl4f"] = {"export": True}
        cell.id = EXPORT_ID
        nb.cells.append(cell)
    Path("artifacts").mkdir(exist_ok=True)
    records = [{"index": k, "grade_id": _grade_id(c), "status": "not run"} for k, c in enumerate(nb.cells)
               if c.cell_type == "code"]
    by_index = {r["index"]: r for r in records}

    def save():
        Path(CELLS).write_text(json.dumps(records, indent=1))

    save()
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": "."}}, record_timing=False)
    dead = False
    with client.setup_kernel():
        for k, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            record = by_index[k]
            if dead:
                continue
            record["status"] = "running"
            save()
            t0 = time.monotonic()
            try:
                client.execute_cell(cell, k)
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                record["status"] = "error" if errors else "ok"
                if errors:
                    record["error"] = f"{errors[-1].get('ename', '')}: {errors[-1].get('evalue', '')}"[:500]
            except CellTimeoutError:
                record["status"] = "timeout"
                record["error"] = f"the cell ran longer than {cell_timeout} s"
                dead = True  # the kernel is busy: nbclient cannot run more cells
            except DeadKernelError as exc:
                record["status"] = "dead"
                record["error"] = "the kernel died (os._exit, a crash, or the memory cap): " + _error_text(exc)
                dead = True
            except CellExecutionError as exc:
                record["status"] = "error"
                record["error"] = _error_text(exc)
            record["seconds"] = round(time.monotonic() - t0, 2)
            save()
    nbformat.write(nb, EXECUTED)
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dl4f.submission_run", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--export", help="module whose export_artifacts(namespace, out_dir, inputs_dir) runs last")
    parser.add_argument("--cell-timeout", type=int, default=600)
    args = parser.parse_args(argv)
    run(args.notebook, args.export, args.cell_timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
