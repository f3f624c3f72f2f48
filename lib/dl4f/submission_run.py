"""Run a submitted notebook: the part of grading that runs INSIDE the sandbox, before the grader's inputs exist.

``python -m dl4f.submission_run NOTEBOOK --names a,b,c`` executes every cell of ``NOTEBOOK`` in a fresh
``python3`` kernel (a cell that fails does not stop the run, as in nbgrader). After each cell it asks the kernel
to save the notebook's objects that the TP's export reads (``--names``: functions, classes, trained models) into
``snapshots/<name>.pkl`` (cloudpickle: the notebook's own functions and classes by value), each time a cell
rebinds one of them or names it; after the last cell, all of them. So a kernel that dies in a late cell leaves
the state of the notebook before that cell (``snapshot``).

The grader's problems (``inputs/``) do not exist during this run, and the export does not run here: after every
process of this run is dead, the grader runs ``dl4f.export_run`` in a fresh sandbox that restores the snapshots,
then receives the inputs (see there). Nothing of this run is trusted. How each cell ended (``records``) and the
executed notebook go to the grader over a private channel (a pipe, ``$DL4F_CHANNEL_FD``) that the kernel never
holds: this runner keeps it from the kernel (close-on-exec) and makes itself undumpable, so the student's
processes (the kernel and what it starts, same user) can neither write to it nor read this process's memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import nbformat

SNAPSHOTS = "snapshots"


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _error_text(exc: BaseException) -> str:
    text = getattr(exc, "ename", None)
    if text:
        return f"{exc.ename}: {getattr(exc, 'evalue', '')}"[:500]
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:500]


def _snapshot_cell(names: list[str], mentioned: list[str], everything: bool) -> nbformat.NotebookNode:
    code = (f"__import__('dl4f.snapshot').snapshot.snapshot(globals(), {names!r}, {mentioned!r}, "
            f"{SNAPSHOTS!r}, {everything!r})")
    return nbformat.v4.new_code_cell(code)


def _mentioned(source: str, names: list[str]) -> list[str]:
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source))
    return [n for n in names if n in words]


class Channel:
    """The private channel to the grader (a pipe fd inherited from the sandbox), or nothing when absent."""

    def __init__(self):
        fd = os.environ.pop("DL4F_CHANNEL_FD", "")
        self.stream = None
        if fd.isdigit():
            os.set_inheritable(int(fd), False)  # the kernel and whatever it starts never get it
            self.stream = os.fdopen(int(fd), "w", buffering=1)

    def send(self, **message) -> None:
        if self.stream is not None:
            try:
                self.stream.write(json.dumps(message) + "\n")
                self.stream.flush()
            except OSError:
                self.stream = None


def _undumpable() -> None:
    """``prctl(PR_SET_DUMPABLE, 0)``: processes of the same user can no longer ptrace this one or read its memory."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def run(notebook: Path, names: list[str], cell_timeout: int) -> list[dict]:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    _undumpable()
    channel = Channel()
    nb = nbformat.read(notebook, as_version=4)
    records = [{"index": k, "grade_id": _grade_id(c), "status": "not run"} for k, c in enumerate(nb.cells)
               if c.cell_type == "code"]
    by_index = {r["index"]: r for r in records}

    def save():
        channel.send(cells=records)

    save()
    # the kernel is killed at the end, not asked to shut down (1 s of each run): its snapshot is written by then,
    # and nothing else it might do at exit is read
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": "."}}, record_timing=False, shutdown_kernel="immediate")
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
            if names and not dead:
                _save_snapshot(client, names, _mentioned(cell.source, names), False)
            save()
        if names and not dead:
            _save_snapshot(client, names, names, True)
    channel.send(executed=json.loads(nbformat.writes(nb)))
    return records


def _save_snapshot(client, names, mentioned, everything) -> None:
    """Run the snapshot in the kernel as a cell appended for the time of its run (nbclient writes an executed cell
    back into the notebook at its index: never over one of the notebook's cells)."""
    cell = _snapshot_cell(names, mentioned, everything)
    client.nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(client.nb.cells) - 1, store_history=False)
    except Exception:  # noqa: BLE001  (a kernel that refuses its snapshot keeps the previous one)
        pass
    finally:
        client.nb.cells.remove(cell)


def _skip_slow_schema_formats() -> None:
    """nbformat validates notebooks with jsonschema, which imports every optional checker of string formats it finds
    installed; one of them (``rfc3987_syntax``, brought by Jupyter's packages) compiles a grammar at import, 1.7 s of
    each submission's run. Notebook schemas use no IRI format: this process goes without it."""
    import sys

    sys.modules.setdefault("rfc3987_syntax", None)


def main(argv=None) -> int:
    _skip_slow_schema_formats()
    parser = argparse.ArgumentParser(prog="python -m dl4f.submission_run", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--names", default="", help="comma-separated globals to snapshot for the export")
    parser.add_argument("--cell-timeout", type=int, default=600)
    args = parser.parse_args(argv)
    run(args.notebook, [n for n in args.names.split(",") if n], args.cell_timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
