"""The RNN TP as an nbgrader assignment: the source notebook, its release, and the student version committed.

Grading itself (sandboxed runs, trusted checks, the gradebook) is tested in ``test_grade_tp_rnn.py``.
"""

import shutil
import time
from pathlib import Path

import nbformat
import pytest

from dl4f import assignments

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "tp-rnn" / "tp-rnn.ipynb"
RELEASED = ROOT / "exercises" / "tp-rnn" / "tp-rnn.ipynb"
STUDENTS = ("full", "blank", "wrong_q4", "tampered", "broken")


def _grade_cells(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def _points(nb) -> dict:
    return {gid: c.metadata["nbgrader"].get("points", 0) for gid, c in _grade_cells(nb).items()
            if c.metadata["nbgrader"].get("grade")}


def _strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line)


@pytest.fixture(scope="module")
def course(tmp_path_factory, market_cache):
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / "tp-rnn", root / "solutions" / "tp-rnn")
    t0 = time.perf_counter()
    released = assignments.release("tp-rnn", root=root)
    return {"root": root, "released": released, "release_s": time.perf_counter() - t0}


def test_source_notebook_is_an_nbgrader_source_with_its_total_in_the_header():
    nb = nbformat.read(SOURCE, as_version=4)
    points = _points(nb)
    total = sum(points.values())
    assert f"**{total} points**" in nb.cells[0].source
    for q in ("q1", "q2", "q3", "q4"):
        assert sum(v for k, v in points.items() if k.startswith(q + "_")) > 0
        assert any(k.startswith(q) and "_tests" in k for k in points), f"{q}: a visible test cell"
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta and "### BEGIN HIDDEN TESTS" in cell.source:
            assert meta["grade"] and meta["locked"] and "remove-cell" in cell.metadata.get("tags", [])
        assert "nbgrader" not in cell.metadata or cell.metadata["nbgrader"]["schema_version"] == 3


def test_committed_student_version_is_what_nbgrader_generates(course):
    """exercises/tp-rnn/tp-rnn.ipynb is the output of `dl4f tp release` for the committed source."""
    generated = nbformat.read(course["released"][0], as_version=4)
    committed = nbformat.read(RELEASED, as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in generated.cells], "run `dl4f tp release`"


@pytest.mark.parametrize("path", sorted((ROOT / "exercises").glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_released_notebooks_hold_no_solution_hidden_test_or_output(path):
    assignments.check_student_version(path, ROOT / "solutions" / path.parent.name / path.name)


def test_a_leaked_solution_is_detected(tmp_path):
    nb = nbformat.read(RELEASED, as_version=4)
    nb.cells[-1].source += "\nreturn keras.Sequential([keras.Input(shape=(200, 1)), keras.layers.LSTM(100)"
    nbformat.write(nb, tmp_path / "leak.ipynb")
    with pytest.raises(ValueError, match="not a clean student version"):
        assignments.check_student_version(tmp_path / "leak.ipynb", SOURCE)


def test_every_graded_cell_is_decided_by_a_trusted_check():
    """Each graded cell of the source (visible and hidden tests) has its check in dl4f_grading.tp_rnn, and back."""
    from dl4f_grading import engine, tp_rnn

    source = nbformat.read(SOURCE, as_version=4)
    graded = {c["grade_id"] for c in engine.graded_cells(source)}
    assert graded == set(tp_rnn.CELLS)
    for cell in source.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if "BEGIN HIDDEN TESTS" in cell.source:
            assert f'hidden_test("{gid}", globals())' in cell.source, f"{gid} runs its own trusted check"
