"""``dl4f tp check``: a TP notebook run as nbgrader's Validate does, on tiny synthetic notebooks (a few seconds each).

Each notebook has nbgrader cells like the TPs': an answer cell (``solution: true``), locked cells and graded test
cells (``grade: true``). The real TP is never run here (it trains for minutes).
"""

from __future__ import annotations

import nbformat
import pytest

from dl4f import check
from dl4f.assignments import ROOT


def nbgrader_cell(source: str, grade_id: str, *, kind: str, points: float = 1, cell_type: str = "code"):
    """A cell with nbgrader metadata: ``kind`` is answer, test or locked. Locked cells get nbgrader's checksum."""
    if cell_type == "code":
        cell = nbformat.v4.new_code_cell(source)
    else:
        cell = nbformat.v4.new_markdown_cell(source)
    meta = {"grade": kind == "test", "grade_id": grade_id, "locked": kind != "answer", "schema_version": 3,
            "solution": kind == "answer", "task": False}
    if kind == "test":
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    if kind != "answer":
        cell.metadata["nbgrader"]["checksum"] = check.nbgrader_checksum(cell)
    return cell


def tp_notebook(answer: str, *, test: str = "assert double(3) == 6, 'double(3) must be 6'", extra=()):
    """A two-question TP: write ``double``; its visible test; a hidden-test cell (a comment only)."""
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# TP"),
        nbgrader_cell("import math", "setup", kind="locked"),
        nbgrader_cell(answer, "q1_answer", kind="answer"),
        nbgrader_cell(test, "q1_tests", kind="test", points=2),
        nbgrader_cell("# Hidden test: double of a negative number", "q1_hidden", kind="test", points=3),
        *extra,
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def write(tmp_path, nb, name="tp-tiny.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_passing_notebook_is_ok(tmp_path):
    path = write(tmp_path, tp_notebook("def double(x):\n    return 2 * x"))
    report = check.check_notebook(path, timeout_per_cell=60, root=tmp_path)
    assert [(t.cell_id, t.status, t.points) for t in report.tests] == [
        ("q1_tests", "passed", 2.0), ("q1_hidden", "hidden", 3.0)]
    assert report.ok and not report.errors and not report.unanswered and not report.warnings
    text = check.format_report(report)
    assert "1 of 1 visible test cell(s) passed" in text and "OK: every visible test passes" in text
    assert "1 hidden test cell(s) (3 points)" in text


def test_failing_test_reports_the_last_line_of_its_error(tmp_path):
    path = write(tmp_path, tp_notebook("def double(x):\n    return x + 1"))
    report = check.check_notebook(path, timeout_per_cell=60, root=tmp_path)
    q1 = report.tests[0]
    assert (q1.cell_id, q1.status) == ("q1_tests", "failed")
    assert q1.message == "AssertionError: double(3) must be 6"
    assert not report.ok and report.failed == [q1]
    text = check.format_report(report)
    assert "FAIL    q1_tests (2 points): AssertionError: double(3) must be 6" in text
    assert "NOT OK: 1 test cell(s) do not pass" in text


def test_unanswered_cell_is_reported_and_the_cell_calling_it_explains_the_failure(tmp_path):
    nb = tp_notebook("def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    nb.cells.insert(3, nbgrader_cell("result = double(2)", "q1_use", kind="locked"))  # like the TP's training cells
    nb.cells.append(nbgrader_cell("YOUR ANSWER HERE", "discussion", kind="answer", cell_type="markdown"))
    report = check.check_notebook(write(tmp_path, nb), timeout_per_cell=60, root=tmp_path)
    assert [(c.cell_id, c.cell_type) for c in report.unanswered] == [("q1_answer", "code"), ("discussion", "markdown")]
    assert [(e.cell_id, e.message) for e in report.errors] == [("q1_use", "NotImplementedError")]
    assert report.tests[0].status == "failed" and report.tests[0].message == "NotImplementedError"
    assert not report.ok
    assert "q1_answer: still holds raise NotImplementedError()" in check.format_report(report)


def test_written_code_answer_with_an_empty_discussion_is_still_ok(tmp_path):
    nb = tp_notebook("def double(x):\n    return 2 * x")
    nb.cells.append(nbgrader_cell("YOUR ANSWER HERE", "discussion", kind="answer", cell_type="markdown"))
    report = check.check_notebook(write(tmp_path, nb), timeout_per_cell=60, root=tmp_path)
    assert report.ok and [c.cell_id for c in report.unanswered] == ["discussion"]


@pytest.mark.parametrize("content, expected", [
    ('{"cells": [', "is not valid JSON (line 1, column 12"),
    ("[1, 2, 3]", "is JSON but not a Jupyter notebook"),
    ('{"cells": [{"cell_type": "code"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "not a valid notebook"),
])
def test_a_file_that_is_not_a_notebook_gives_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    with pytest.raises(ValueError, match="download the notebook again") as info:
        check.check_notebook(path, root=tmp_path)
    assert expected in str(info.value)


def test_missing_file_and_bad_timeout(tmp_path):
    with pytest.raises(FileNotFoundError, match="no notebook"):
        check.check_notebook(tmp_path / "nope.ipynb", root=tmp_path)
    path = write(tmp_path, tp_notebook("def double(x):\n    return 2 * x"))
    with pytest.raises(ValueError, match="positive number of seconds"):
        check.check_notebook(path, timeout_per_cell=0, root=tmp_path)


def test_a_cell_past_its_time_budget_stops_the_run_and_is_named(tmp_path):
    answer = "import time\ntime.sleep(30)\n\ndef double(x):\n    return 2 * x"
    report = check.check_notebook(write(tmp_path, tp_notebook(answer)), timeout_per_cell=2, root=tmp_path)
    assert report.stopped is not None and report.stopped.cell_id == "q1_answer"
    assert report.stopped.status == "timeout" and "ran past 2 s" in report.stopped.message
    assert [t.status for t in report.tests] == ["not run", "not run"]
    assert report.seconds < 15 and not report.ok
    assert "The run stopped at cell q1_answer" in check.format_report(report)


def test_a_kernel_death_is_reported_with_its_cell(tmp_path):
    test = "import os\nos._exit(1)"
    report = check.check_notebook(write(tmp_path, tp_notebook("def double(x):\n    return 2 * x", test=test)),
                                  timeout_per_cell=60, root=tmp_path)
    assert report.stopped is not None and (report.stopped.cell_id, report.stopped.status) == ("q1_tests", "kernel died")
    assert [t.status for t in report.tests] == ["kernel died", "not run"]
    assert not report.ok and "DIED    q1_tests" in check.format_report(report)


def test_the_kernel_runs_in_the_notebook_folder(tmp_path):
    (tmp_path / "data.txt").write_text("6")
    test = "assert double(3) == int(open('data.txt').read())"
    report = check.check_notebook(write(tmp_path, tp_notebook("def double(x):\n    return 2 * x", test=test)),
                                  timeout_per_cell=60, root=tmp_path)
    assert report.ok, check.format_report(report)


# --------------------------------------------------------------------------- edited or deleted locked cells


def test_edited_and_deleted_locked_cells_are_found_against_the_student_version(tmp_path):
    original = tp_notebook("def double(x):\n    raise NotImplementedError()")
    (tmp_path / "exercises" / "tp-tiny").mkdir(parents=True)
    write(tmp_path / "exercises" / "tp-tiny", original)
    submission = tp_notebook("def double(x):\n    return 2 * x", test="assert True  # my own test")
    del submission.cells[4]  # the hidden-test cell
    submission.cells[3].metadata["nbgrader"]["checksum"] = check.nbgrader_checksum(submission.cells[3])  # forged
    folder = tmp_path / "submission"
    folder.mkdir()
    warnings = check.locked_cell_warnings(submission, original)
    assert warnings == ["cell q1_tests was modified: it will be restored from the original at grading",
                        "cell q1_hidden was deleted: it will be restored from the original at grading"]
    report = check.check_notebook(write(folder, submission), timeout_per_cell=60, root=tmp_path)
    assert report.original == tmp_path / "exercises" / "tp-tiny" / "tp-tiny.ipynb"
    assert report.warnings == warnings
    assert "cell q1_tests was modified: it will be restored from the original at grading" in check.format_report(report)


def test_a_renamed_submission_is_matched_to_its_student_version_by_cell_ids(tmp_path):
    (tmp_path / "exercises" / "tp-tiny").mkdir(parents=True)
    original = write(tmp_path / "exercises" / "tp-tiny", tp_notebook("def double(x):\n    raise NotImplementedError()"))
    (tmp_path / "exercises" / "tp-other").mkdir()
    write(tmp_path / "exercises" / "tp-other", nbformat.v4.new_notebook(), name="tp-other.ipynb")
    alice = write(tmp_path, tp_notebook("def double(x):\n    return 2 * x"), name="alice.ipynb")
    assert check.find_original(alice, tmp_path) == original
    assert check.find_original(alice, tmp_path / "elsewhere") is None


def test_without_the_student_version_the_stored_checksums_catch_an_edit():
    nb = tp_notebook("def double(x):\n    return 2 * x")
    assert check.locked_cell_warnings(nb) == []
    nb.cells[3].source = "assert True"
    nb.cells[1].source = "import math  # changed"
    assert check.locked_cell_warnings(nb) == [
        "cell setup was modified: it will be restored from the original at grading",
        "cell q1_tests was modified: it will be restored from the original at grading"]
    nb.cells.append(nb.cells[3])
    assert "cell q1_tests appears 2 times: keep only one (nbgrader grades cells by id)" in check.locked_cell_warnings(nb)


def test_checksum_is_nbgraders_on_the_released_student_version():
    nb = check.read_notebook(ROOT / "exercises" / "tp-rnn" / "tp-rnn.ipynb")
    stored = [(c.metadata["nbgrader"]["checksum"], c) for c in nb.cells if "checksum" in c.metadata.get("nbgrader", {})]
    assert len(stored) > 20
    assert [check.nbgrader_checksum(c) for _, c in stored] == [s for s, _ in stored]
    assert check.locked_cell_warnings(nb) == []


def test_a_notebook_sharing_a_few_cell_ids_is_not_matched_to_a_student_version(tmp_path):
    (tmp_path / "exercises" / "tp-big").mkdir(parents=True)
    big = tp_notebook("def double(x):\n    raise NotImplementedError()")
    big.cells += [nbgrader_cell(f"x{k} = {k}", f"extra_{k}", kind="locked") for k in range(10)]
    write(tmp_path / "exercises" / "tp-big", big, name="tp-big.ipynb")
    small = write(tmp_path, tp_notebook("def double(x):\n    return 2 * x"), name="mine.ipynb")
    assert check.find_original(small, tmp_path) is None  # 4 ids shared of 14: another notebook


def test_a_notebook_without_graded_cells_is_not_ok(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def double(x):\n    return 2 * x")])
    report = check.check_notebook(write(tmp_path, nb, name="scratch.ipynb"), timeout_per_cell=60, root=tmp_path)
    assert report.tests == [] and not report.errors and not report.ok
    assert "NOT OK: no graded test cell" in check.format_report(report)
