"""The graded TPs: release the student version, check it, execute the solution, collect submissions.

The nbgrader course lives at the repository root (``nbgrader_config.py``): sources in ``solutions/<assignment>/``,
student versions in ``exercises/<assignment>/``. Autograding, feedback and the grade export are plain nbgrader
commands (see the README).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "tp-rnn"
# The executed solution, rendered by the site as the "TP corrected" page (hidden tests tagged remove-cell).
CORRECTED = {"tp-rnn": Path("chapters/rnn/tp-rnn-corrected.ipynb"),
             "tp-optimization": Path("chapters/training/tp-optimization-corrected.ipynb"),
             "tp-intro": Path("chapters/intro/tp-intro-corrected.ipynb"),
             "tp-callbacks": Path("chapters/training/tp-callbacks-corrected.ipynb"),
             "tp-transformer": Path("chapters/building-blocks/tp-transformer-corrected.ipynb")}
# The title of each corrected page on the site (a front-matter cell of the executed copy).
CORRECTED_TITLES = {"tp-rnn": "TP Corrected: Recurrent Neural Networks for Time Series Prediction",
                    "tp-optimization": "TP Corrected: Using Deep Learning Frameworks for General Optimization",
                    "tp-intro": "TP Corrected: Building Neural Networks - From Simple to Custom Implementations",
                    "tp-callbacks": "TP Corrected: Impact of Callbacks on Training",
                    "tp-transformer": "TP Corrected: Building a Transformer-Based Architecture for Time Series Forecasting"}

# A cell tag of the source notebooks: the cell speaks to the student who solves the TP (where to write the code,
# how to check and submit it) and is left out of the corrected page; the task descriptions stay.
STUDENTS_ONLY = "students-only"

_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS",
            "BEGIN MARK SCHEME", "END MARK SCHEME")


def nbgrader(*args: str, root: Path = ROOT, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course ``root`` with this interpreter; returns the completed process.

    The interpreter's own ``bin/`` goes first on PATH: nbgrader starts ``alembic`` (its gradebook
    migrations) as a program, which lives there even when the virtual environment is not activated.
    """
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root, env={**os.environ, "PATH": path, **(env or {})}, capture_output=True, text=True,
    )
    if check and proc.returncode != 0:
        log = proc.stdout[-3000:] + proc.stderr[-5000:]
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n{log}")
    return proc


def solution_lines(source: Path) -> list[str]:
    """The code lines of the source's solution and hidden-test regions (long enough to be specific)."""
    nb = nbformat.read(source, as_version=4)
    lines, public, inside = [], set(), False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            s = line.strip()
            if s.startswith(("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS")):
                inside = True
            elif s.startswith(("### END SOLUTION", "### END HIDDEN TESTS")):
                inside = False
            elif inside and len(s) > 25 and not s.startswith(("#", '"""')):
                lines.append(s)
            elif not inside:
                public.add(s)
    return [line for line in lines if line not in public]  # lines the page shows anyway (examples) are fine


def check_student_version(path: Path, source: Path | None = None) -> None:
    """Raise ``ValueError`` if the released notebook holds a solution, a hidden test or an output."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for k, cell in enumerate(nb.cells):
        for marker in _MARKERS:
            if marker in cell.source:
                problems.append(f"cell {k}: {marker!r}")
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            problems.append(f"cell {k}: outputs")
    if source is not None:
        text = "\n".join(cell.source for cell in nb.cells)
        problems += [f"solution line {line!r}" for line in solution_lines(source) if line in text]
    if problems:
        raise ValueError(f"{path} is not a clean student version: " + "; ".join(problems[:10]))


def release(assignment: str = ASSIGNMENT, root: Path = ROOT) -> list[Path]:
    """``nbgrader generate_assignment`` from ``solutions/`` into ``exercises/``, then check the result."""
    nbgrader("generate_assignment", assignment, "--force", root=root)
    out = sorted((root / "exercises" / assignment).glob("*.ipynb"))
    if not out:
        raise RuntimeError(f"nbgrader wrote no notebook into {root / 'exercises' / assignment}")
    for path in out:
        check_student_version(path, root / "solutions" / assignment / path.name)
    return out


def add_page_title(nb, title: str) -> None:
    """Give a notebook page its Quarto title: a raw front-matter cell first, and no ``# heading`` repeating it."""
    if nb.cells and nb.cells[0].cell_type == "raw" and nb.cells[0].source.lstrip().startswith("---"):
        nb.cells.pop(0)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.splitlines()
            if lines and lines[0].startswith("# "):
                cell.source = "\n".join(lines[1:]).lstrip("\n")
            break
    quoted = title.replace('"', '\\"')
    nb.cells.insert(0, nbformat.v4.new_raw_cell(f'---\ntitle: "{quoted}"\n---'))


def drop_students_only(nb) -> int:
    """Remove the cells tagged ``students-only`` (``STUDENTS_ONLY``) from ``nb``; returns how many were removed.

    Such a cell holds the instructions to the student (write your code where it says ``YOUR CODE HERE``, replace
    ``raise NotImplementedError()``, check and submit the notebook), which the corrected page does not show. A cell
    that nbgrader grades or that holds a solution cannot be tagged so: that would remove part of the answer.
    """
    kept = []
    for k, cell in enumerate(nb.cells):
        if STUDENTS_ONLY not in cell.metadata.get("tags", []):
            kept.append(cell)
            continue
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("grade") or grading.get("solution"):
            raise ValueError(f"cell {k} ({grading.get('grade_id')}) is graded or holds a solution: "
                             f"remove its {STUDENTS_ONLY!r} tag, only instruction cells may carry it")
    dropped = len(nb.cells) - len(kept)
    nb.cells = kept
    return dropped


def execute(source: Path, out: Path, *, timeout: int = 600, strip_markers: bool = True, title: str | None = None) -> Path:
    """Run the notebook ``source`` top to bottom (kernel ``python3``) and write it with its outputs to ``out``.

    With ``strip_markers`` the nbgrader region markers (``### BEGIN SOLUTION``...) are removed from the copy,
    so the page shows plain code; the hidden-test cells keep their ``remove-cell`` tag. The cells tagged
    ``students-only`` (the instructions to the student) are left out of the copy. ``title`` becomes the page
    title (a front-matter raw cell) of the copy.
    """
    from nbclient import NotebookClient

    source, out = Path(source), Path(out)
    nb = nbformat.read(source, as_version=4)
    resources = {"metadata": {"path": str(source.parent)}}
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources).execute()
    drop_students_only(nb)
    if strip_markers:
        for cell in nb.cells:
            cell.source = "\n".join(
                line for line in cell.source.splitlines() if not line.strip().startswith(_MARKERS[:4])
            )
    if title:
        add_page_title(nb, title)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    if title:  # a corrected page stays a draft (not on the site) until `dl4f tp publish`
        from dl4f.publish import set_draft

        set_draft(out, True)
    return out


def collect(folder: Path, assignment: str = ASSIGNMENT, root: Path = ROOT) -> list[str]:
    """Copy a folder of submissions into ``submitted/<student>/<assignment>/<assignment>.ipynb``.

    ``folder`` holds either ``<student>.ipynb`` files or ``<student>/`` folders with one notebook each (what an
    LMS download usually gives). Returns the student ids.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder}")
    students = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            notebooks = sorted(entry.glob("*.ipynb"))
            if len(notebooks) != 1:
                raise ValueError(f"{entry} must hold exactly one notebook, holds {len(notebooks)}")
            student, notebook = entry.name, notebooks[0]
        elif entry.suffix == ".ipynb":
            student, notebook = entry.stem, entry
        else:
            continue
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", student):
            raise ValueError(f"student id {student!r}: use letters, digits, '.', '_' or '-'")
        target = root / "submitted" / student / assignment / f"{assignment}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, target)
        students.append(student)
    if not students:
        raise ValueError(f"no submission in {folder} (expected <student>.ipynb or <student>/<notebook>.ipynb)")
    return students
