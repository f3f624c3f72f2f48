"""The RNN TP as an nbgrader assignment: release, then autograde five submissions built from the source.

One course folder (a copy of nbgrader_config.py and solutions/) per test session; one ``nbgrader autograde``
run grades all five submissions. Training is shrunk to 1 epoch (``DL4F_TP_EPOCHS=1``, which the notebook
reads through ``tp_rnn.fit_kwargs()``); the hidden tests then use ``grading.QUICK_R2_THRESHOLDS``. The real
thresholds are exercised by the full run (``dl4f tp execute`` and benchmarks/calibrate_tp_rnn.py).
"""

import json
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


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """Build the five submissions, collect them, autograde them in one nbgrader run; returns scores by cell."""
    root = course["root"]
    student = nbformat.read(course["released"][0], as_version=4)
    source = nbformat.read(SOURCE, as_version=4)
    answers = {gid: _strip_markers(c.source) for gid, c in _grade_cells(source).items()
               if c.metadata["nbgrader"].get("solution")}

    def filled(nb):
        nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # deep copy
        for gid, cell in _grade_cells(nb).items():
            if gid in answers:
                cell.source = answers[gid]
        return nb

    inbox = tmp_path_factory.mktemp("inbox")
    full = filled(student)
    nbformat.write(full, inbox / "full.ipynb")
    nbformat.write(student, inbox / "blank.ipynb")
    wrong = filled(student)
    q4 = _grade_cells(wrong)["q4_answer"]
    assert "c = f * c_prev + i * c_tilde" in q4.source
    q4.source = q4.source.replace("c = f * c_prev + i * c_tilde", "c = f * c_prev + c_tilde")  # no input gate
    nbformat.write(wrong, inbox / "wrong_q4.ipynb")
    tampered = nbformat.from_dict(json.loads(json.dumps(student)))
    cells = _grade_cells(tampered)
    cells["q1_tests"].source = "print('all tests passed')"  # edited visible test
    cells["q1_lstm_r2"].source = "pass"  # edited (emptied) hidden test
    tampered.cells = [c for c in tampered.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "q2_tests"]
    nbformat.write(tampered, inbox / "tampered.ipynb")
    (inbox / "broken.ipynb").write_text('{"cells": [ this is not json')
    assert sorted(assignments.collect(inbox, "tp-rnn", root=root)) == sorted(STUDENTS)

    t0 = time.perf_counter()
    # A persistent JAX compilation cache lets the second trained submission reuse the first one's programs.
    env = {"DL4F_TP_EPOCHS": "1", "JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("jax-cache")),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    proc = assignments.nbgrader("autograde", "tp-rnn", "--create", root=root, check=False, env=env)
    seconds = time.perf_counter() - t0
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for s in STUDENTS:
            try:
                nb = gb.find_submission_notebook("tp-rnn", "tp-rnn", s)
            except Exception:  # noqa: BLE001  (no submission recorded)
                continue
            scores[s] = {g.name: (g.score, g.max_score) for g in nb.grades}
    return {"proc": proc, "scores": scores, "seconds": seconds, "root": root}


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


def test_full_solution_gets_full_marks(graded):
    scores = graded["scores"]["full"]
    lost = {k: v for k, v in scores.items() if v[0] != v[1]}
    assert not lost, f"the reference solution lost points: {lost}\n{graded['proc'].stderr[-4000:]}"
    assert sum(v[1] for v in scores.values()) == sum(_points(nbformat.read(SOURCE, as_version=4)).values())


def test_untouched_student_version_scores_zero_everywhere(graded):
    scores = graded["scores"]["blank"]
    assert scores and all(score == 0 for score, _ in scores.values()), scores


def test_a_wrong_custom_lstm_loses_question_4_only(graded):
    scores = graded["scores"]["wrong_q4"]
    lost = {k for k, (score, max_score) in scores.items() if score != max_score}
    assert lost, "the wrong LSTM lost nothing"
    assert all(k.startswith("q4_") for k in lost), lost
    assert {"q4_keras", "q4_gates"} <= lost


def test_edited_or_deleted_test_cells_gain_nothing(graded):
    scores = graded["scores"]["tampered"]
    assert all(score == 0 for score, _ in scores.values()), scores
    assert scores["q1_tests"][1] == 1 and scores["q2_tests"][1] == 1  # restored / still counted


def test_invalid_json_is_reported_and_the_others_are_graded(graded):
    proc = graded["proc"]
    assert proc.returncode != 0
    assert "broken" in proc.stdout + proc.stderr
    assert all(score == 0 for score, _ in graded["scores"].get("broken", {}).values())
    assert {"full", "blank", "wrong_q4", "tampered"} <= set(graded["scores"])


def test_feedback_and_grade_export(graded):
    root = graded["root"]
    assignments.nbgrader("generate_feedback", "tp-rnn", "--student", "full", root=root)
    assert list((root / "feedback" / "full" / "tp-rnn").glob("*.html"))
    assignments.nbgrader("export", "--to", str(root / "grades.csv"), root=root)
    text = (root / "grades.csv").read_text()
    assert "full" in text and "wrong_q4" in text
