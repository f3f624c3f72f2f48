"""Check a TP notebook before submitting it: run it as nbgrader's Validate does, and say which visible test fails.

``check_notebook`` starts a fresh kernel ``python3`` in the notebook's folder, runs every cell top to bottom (an
error does not stop the run, as in nbgrader), and reports each graded test cell (nbgrader metadata
``grade: true``): passed, or failed with the last line of its error. Unlike ``nbgrader validate``, which exits 0
even when tests fail, ``dl4f tp check`` exits 1 when one does (``CheckReport.ok``).

It also reports:

- answer cells that still hold ``raise NotImplementedError()`` (or ``YOUR ANSWER HERE``): "not answered";
- the cells that raised outside the tests (a training cell calling an unfinished function): they explain the
  failing tests below them;
- a cell that ran past its time budget, or a kernel that died (``os._exit``, out of memory): the run stops there;
- locked and test cells that the student deleted or edited, compared with the student version
  ``exercises/<tp>/<tp>.ipynb`` when it is at hand, else with the checksums nbgrader stored in the cells:
  grading restores them from the original, so a test edited to pass here runs as written at grading.

The notebook file is only read, never written: its outputs stay as the student saved them.

A hidden-test cell of the student version holds only a comment (its code is added at grading): it is
reported as "hidden", neither passed nor failed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]  # the course repository, when dl4f runs from a clone
KERNEL = "python3"
NOT_ANSWERED_CODE = "raise NotImplementedError()"
NOT_ANSWERED_TEXT = "YOUR ANSWER HERE"


@dataclass
class CellResult:
    """What happened to one cell: ``status`` is passed, failed, hidden, not run, timeout, kernel died,
    not answered or error."""

    index: int  # position of the cell in the notebook (0-based)
    cell_id: str  # nbgrader grade_id, else "cell <index>"
    status: str
    points: float = 0.0
    message: str = ""
    cell_type: str = "code"


@dataclass
class CheckReport:
    """The result of ``check_notebook``."""

    path: Path
    tests: list[CellResult] = field(default_factory=list)  # graded test cells, in notebook order
    unanswered: list[CellResult] = field(default_factory=list)  # answer cells still holding the placeholder
    errors: list[CellResult] = field(default_factory=list)  # other cells that raised
    warnings: list[str] = field(default_factory=list)  # deleted or edited locked/test cells
    stopped: CellResult | None = None  # the cell whose timeout or kernel death stopped the run
    original: Path | None = None  # the student version the locked cells were compared with
    seconds: float = 0.0

    @property
    def failed(self) -> list[CellResult]:
        """Test cells that did not pass (failed, not run, timed out, or killed the kernel)."""
        return [t for t in self.tests if t.status not in ("passed", "hidden")]

    @property
    def ok(self) -> bool:
        """True when the notebook has graded test cells, every visible one passed, every code answer is written
        and the run went to the end."""
        code_unanswered = [c for c in self.unanswered if c.cell_type == "code"]
        return bool(self.tests) and self.stopped is None and not self.failed and not code_unanswered


# --------------------------------------------------------------------------- nbgrader metadata


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_grade(cell) -> bool:
    return bool(_nbgrader(cell).get("grade", False))


def is_solution(cell) -> bool:
    return bool(_nbgrader(cell).get("solution", False))


def is_locked(cell) -> bool:
    """As nbgrader: a grade cell that is not a solution is locked; a solution cell never is."""
    meta = _nbgrader(cell)
    if not meta or is_solution(cell):
        return False
    return True if is_grade(cell) else bool(meta.get("locked", False))


def cell_id(cell, index: int) -> str:
    return str(_nbgrader(cell).get("grade_id") or f"cell {index}")


def nbgrader_checksum(cell) -> str:
    """The checksum nbgrader stores in a cell's metadata (``nbgrader.utils.compute_checksum``, nbgrader 0.9)."""
    m = hashlib.md5()
    for part in (cell.source, cell.cell_type, str(is_grade(cell)), str(is_solution(cell)), str(is_locked(cell)),
                 _nbgrader(cell)["grade_id"]):
        m.update(part.encode("utf-8"))
    if is_grade(cell):
        m.update(str(float(_nbgrader(cell)["points"])).encode("utf-8"))
    return m.hexdigest()


def _code_lines(source: str) -> list[str]:
    return [line for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]


def _normalized(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


# --------------------------------------------------------------------------- reading


def read_notebook(path: Path):
    """Read a notebook (nbformat 4), or raise ``ValueError`` saying why it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook {path}")
    hint = "download the notebook again, or open your copy in JupyterLab and save it (File > Save Notebook)"
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file, so not a notebook: {hint}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}), "
                         f"so not a notebook: {hint}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
        raise ValueError(f"{path} is JSON but not a Jupyter notebook (no 'cells' list or 'nbformat'): {hint}")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises ValidationError and assorted reader errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path} is not a valid notebook ({first}): {hint}") from None
    return nb


# --------------------------------------------------------------------------- the original (student version)


def find_original(path: Path, root: Path = ROOT) -> Path | None:
    """The student version a submission comes from, in ``root/exercises/``, or None when there is none.

    First ``exercises/<stem>/<stem>.ipynb`` (a submission keeps the TP's name), else the student version that
    shares the most nbgrader cell ids with the submission, if at least half of the ids of both (a renamed file,
    e.g. ``alice.ipynb``).
    """
    path = Path(path)
    exercises = Path(root) / "exercises"
    if not exercises.is_dir():
        return None
    by_name = exercises / path.stem / path.name
    if by_name.is_file() and by_name.resolve() != path.resolve():
        return by_name
    try:
        ids = {_nbgrader(c).get("grade_id") for c in read_notebook(path).cells} - {None}
    except ValueError:
        return None
    best, best_score = None, 0.0
    for candidate in sorted(exercises.glob("*/*.ipynb")):
        if candidate.resolve() == path.resolve():
            continue
        try:
            theirs = {_nbgrader(c).get("grade_id") for c in read_notebook(candidate).cells} - {None}
        except ValueError:
            continue
        score = len(ids & theirs) / max(1, len(ids | theirs))  # Jaccard: most cell ids in common, both ways
        if score > best_score:
            best, best_score = candidate, score
    return best if best_score >= 0.5 else None


def locked_cell_warnings(nb, original=None) -> list[str]:
    """Warnings for the locked and test cells of ``nb`` that were deleted or edited.

    With ``original`` (the student version, a notebook), every locked cell of it must be in ``nb`` with the same
    id, type, source and nbgrader flags. Without it, each locked cell is checked against the checksum nbgrader
    stored in its metadata (which catches edits, not deleted cells).
    """
    warnings = []
    restored = "it will be restored from the original at grading"
    ids = [_nbgrader(c).get("grade_id") for c in nb.cells if _nbgrader(c).get("grade_id")]
    for gid in sorted({i for i in ids if ids.count(i) > 1}):
        warnings.append(f"cell {gid} appears {ids.count(gid)} times: keep only one (nbgrader grades cells by id)")
    if original is not None:
        submitted = {_nbgrader(c).get("grade_id"): c for c in nb.cells if _nbgrader(c).get("grade_id")}
        for cell in original.cells:
            if not is_locked(cell):
                continue
            gid = _nbgrader(cell).get("grade_id")
            mine = submitted.get(gid)
            if mine is None:
                warnings.append(f"cell {gid} was deleted: {restored}")
            elif (mine.cell_type != cell.cell_type or _normalized(mine.source) != _normalized(cell.source)
                  or (is_grade(mine), is_solution(mine), is_locked(mine)) != (is_grade(cell), is_solution(cell), True)
                  or float(_nbgrader(mine).get("points", 0)) != float(_nbgrader(cell).get("points", 0))):
                warnings.append(f"cell {gid} was modified: {restored}")
        return warnings
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if is_locked(cell) and meta.get("checksum") and meta.get("grade_id"):
            try:
                changed = nbgrader_checksum(cell) != meta["checksum"]
            except (KeyError, TypeError, ValueError):  # points missing or not a number
                changed = True
            if changed:
                warnings.append(f"cell {meta['grade_id']} was modified: {restored}")
    return warnings


# --------------------------------------------------------------------------- running


def _error_line(cell) -> str | None:
    """The last line of the cell's error, as Python prints it (``AssertionError: message``), or None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            ename, evalue = output.get("ename", "Error"), " ".join(str(output.get("evalue", "")).split())
            line = f"{ename}: {evalue}" if evalue else ename
            return line if len(line) <= 300 else line[:297] + "..."
    return None


def _run(nb, folder: Path, timeout_per_cell: int) -> tuple[int | None, str]:
    """Run every code cell in a fresh kernel; return (index, reason) of the cell that stopped the run, or (None, "")."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    client = NotebookClient(
        nb, timeout=timeout_per_cell, kernel_name=KERNEL, allow_errors=True, startup_timeout=120,
        shell_timeout_interval=1,  # how often (s) a running cell is checked for a timeout or a dead kernel
        resources={"metadata": {"path": str(folder)}},
    )
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                return index, "timeout"
            except DeadKernelError:
                return index, "kernel died"
    return None, ""


def check_notebook(path, timeout_per_cell: int = 600, original: Path | None = None, root: Path = ROOT) -> CheckReport:
    """Run the notebook ``path`` as nbgrader's Validate does and report its graded test cells.

    ``timeout_per_cell`` bounds each cell (seconds; the course's nbgrader allows 600). ``original`` is the
    student version to compare the locked cells with (default: found in ``root/exercises/`` when present).
    Raises ``ValueError`` if the file is not a valid notebook.
    """
    path = Path(path)
    if timeout_per_cell <= 0:
        raise ValueError(f"timeout_per_cell must be a positive number of seconds, got {timeout_per_cell}")
    nb = read_notebook(path)
    if original is None:
        original = find_original(path, root)
    report = CheckReport(path=path, original=Path(original) if original else None)
    report.warnings = locked_cell_warnings(nb, read_notebook(original) if original else None)

    for index, cell in enumerate(nb.cells):
        if is_solution(cell):
            if cell.cell_type == "code" and NOT_ANSWERED_CODE in cell.source:
                report.unanswered.append(CellResult(index, cell_id(cell, index), "not answered",
                                                    message=f"still holds {NOT_ANSWERED_CODE}"))
            elif cell.cell_type == "markdown" and cell.source.strip() == NOT_ANSWERED_TEXT:
                report.unanswered.append(CellResult(index, cell_id(cell, index), "not answered",
                                                    message="written answer, graded by hand", cell_type="markdown"))

    start = time.perf_counter()
    stop_index, reason = _run(nb, path.parent, timeout_per_cell)
    report.seconds = time.perf_counter() - start
    if stop_index is not None:
        cell = nb.cells[stop_index]
        message = (f"ran past {timeout_per_cell} s and was stopped (a slow loop, or a training too long?)"
                   if reason == "timeout" else "the kernel died (out of memory, or os._exit / sys.exit in a cell?)")
        report.stopped = CellResult(stop_index, cell_id(cell, stop_index), reason, message=message)

    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        error = _error_line(cell)
        if is_grade(cell) and not is_solution(cell):
            points = float(_nbgrader(cell).get("points", 0) or 0)
            if stop_index is not None and index == stop_index:
                status, message = reason, report.stopped.message
            elif stop_index is not None and index > stop_index:
                status, message = "not run", f"the run stopped at {report.stopped.cell_id}"
            elif error:
                status, message = "failed", error
            elif not _code_lines(cell.source):
                status, message = "hidden", "its code is added at grading"
            else:
                status, message = "passed", ""
            report.tests.append(CellResult(index, cell_id(cell, index), status, points, message))
        elif error and (stop_index is None or index < stop_index):
            report.errors.append(CellResult(index, cell_id(cell, index), "error", message=error))
    return report


# --------------------------------------------------------------------------- report


def _points(p: float) -> str:
    return f"{p:g} point" + ("" if p == 1 else "s")


def format_report(report: CheckReport) -> str:
    """The report as text for a terminal: one line per test, then what to fix."""
    visible = [t for t in report.tests if t.status != "hidden"]
    passed = [t for t in visible if t.status == "passed"]
    hidden = [t for t in report.tests if t.status == "hidden"]
    lines = [f"{report.path.name}: {len(passed)} of {len(visible)} visible test cell(s) passed "
             f"(ran in {report.seconds:.0f} s, fresh kernel {KERNEL})"]
    labels = {"passed": "PASS", "failed": "FAIL", "not run": "NOT RUN", "timeout": "TIMEOUT", "kernel died": "DIED"}
    for test in visible:
        line = f"  {labels.get(test.status, test.status.upper()):8s}{test.cell_id} ({_points(test.points)})"
        lines.append(line + (f": {test.message}" if test.message else ""))
    if hidden:
        lines.append(f"  {len(hidden)} hidden test cell(s) ({_points(sum(t.points for t in hidden))}) run at grading only")
    if report.stopped is not None:
        lines.append(f"\nThe run stopped at cell {report.stopped.cell_id} (cell {report.stopped.index}): "
                     f"{report.stopped.message}")
    if report.unanswered:
        lines.append("\nNot answered yet:")
        lines += [f"  {c.cell_id}: {c.message}" for c in report.unanswered]
    if report.errors:
        lines.append("\nErrors in other cells (they can make the tests below them fail):")
        lines += [f"  {c.cell_id} (cell {c.index}): {c.message}" for c in report.errors]
    if report.warnings:
        source = f" (compared with {report.original})" if report.original else ""
        lines.append(f"\nWarnings{source}:")
        lines += [f"  {w}" for w in report.warnings]
    if not report.tests:
        lines.append("\nNOT OK: no graded test cell (nbgrader metadata) in this notebook. Is it the TP's notebook, "
                     "downloaded from its page on the site? Work in that notebook: copied cells lose their metadata.")
    elif report.ok:
        lines.append("\nOK: every visible test passes. Hidden tests run at grading: passing the visible ones is "
                     "necessary, not sufficient.")
    else:
        unanswered = sum(c.cell_type == "code" for c in report.unanswered)
        lines.append(f"\nNOT OK: {len(report.failed)} test cell(s) do not pass"
                     + (f", {unanswered} answer cell(s) not written" if unanswered else "")
                     + ". Fix them, then check again.")
    return "\n".join(lines)
