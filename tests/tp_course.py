"""Shared by the graded TPs' tests: a course folder with a class of submissions, graded by the engine, and the
helpers their submission corpora (``tests/submissions_tp_*.py``) use to write notebooks as students would."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat

from dl4f import assignments
from dl4f_grading import engine, grade, sandbox

ROOT = Path(__file__).resolve().parents[1]


def cells(nb) -> dict:
    """The notebook's nbgrader cells by grade id."""
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def strip(source: str) -> str:
    """A solution cell's code without the nbgrader markers (what a student who solved it would have written)."""
    return "\n".join(line for line in source.splitlines() if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line)


def after(nb, grade_id: str, code: str):
    """A copy of ``nb`` with a code cell added after the cell ``grade_id`` (as a student adds a cell)."""
    nb = copy.deepcopy(nb)
    k = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells.insert(k + 1, nbformat.v4.new_code_cell(code))
    return nb


def course(root: Path, tp: str, corpus) -> Path:
    """A course folder under ``root``: the TP's source, its released student version, and ``corpus``'s class in
    ``submitted/<student>/<tp>/``."""
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / tp, root / "solutions" / tp)
    assignments.release(tp, root=root)
    student = nbformat.read(root / "exercises" / tp / f"{tp}.ipynb", as_version=4)
    source = nbformat.read(root / "solutions" / tp / f"{tp}.ipynb", as_version=4)
    for name, content in corpus.build(student, source).items():
        folder = root / "submitted" / name / tp
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{tp}.ipynb").write_bytes(content)
    return root


def grade_corpus(root: Path, tp: str, corpus, settings: engine.Settings) -> dict:
    """Grade ``corpus``'s class with the engine (sandboxed, 2 workers): ``{"root", "results": {student: result}}``.
    Skips the test when bubblewrap is missing."""
    import pytest

    if not sandbox.available():
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    course(root, tp, corpus)
    results = grade.grade_class(root, tp, settings=settings, workers=2, progress=lambda s: None)
    return {"root": root, "results": {r["student"]: r for r in results}}


def assert_scores(results: dict, expected: dict, max_score: float = 30) -> None:
    """Every submission got its expected (points, status); on failure, the messages of the cells each lost."""
    print(grade.table(list(results.values())))
    table = {s: (r["score"], r["status"]) for s, r in results.items()}
    assert table == {s: (float(points), status) for s, (points, status) in expected.items()}, {
        s: {g: v["message"] for g, v in r["cells"].items() if not v["passed"]} for s, r in results.items()}
    assert all(r["max_score"] == max_score for r in results.values())


def solution_answers(source) -> dict[str, str]:
    """The code of the source notebook's solution cells, by grade id, markers removed."""
    return {gid: strip(c.source) for gid, c in cells(source).items()
            if c.metadata["nbgrader"].get("solution") and c.cell_type == "code"}


def with_answers(student_version, changes: dict):
    """A copy of the student version with the cells of ``changes`` ({grade_id: code}) written."""
    nb = copy.deepcopy(student_version)
    for gid, cell in cells(nb).items():
        if gid in changes:
            cell.source = changes[gid]
    return nb
