"""Grading a class of the RNN TP with ``dl4f tp grade``'s engine: honest and hostile submissions, in parallel,
sandboxed, decided outside the students' processes; then resumed, and re-graded on a Dask cluster.

One course folder per test session (``nbgrader_config.py`` and ``solutions/tp-rnn`` copied, the student version
released into its gradebook). Training is shrunk to 1 epoch by the instructor's setting (``Settings(epochs=1)``),
so the quick R² thresholds apply; the full-threshold run is ``dl4f tp grade`` on real submissions (README).
"""

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import submissions_tp_rnn as corpus
import tp_course

from dl4f import assignments
from dl4f_grading import engine, grade, sandbox

ROOT = Path(__file__).resolve().parents[1]
TP = "tp-rnn"

pytestmark = pytest.mark.skipif(not sandbox.available(), reason="bubblewrap is not installed (apt-get install bubblewrap)")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_submissions(root: Path, raw: dict) -> None:
    for student, content in raw.items():
        folder = root / "submitted" / student / TP
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{TP}.ipynb").write_bytes(content)


@pytest.fixture(scope="module")
def course(tmp_path_factory, market_cache):
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / TP, root / "solutions" / TP)
    assignments.release(TP, root=root)
    student = nbformat.read(root / "exercises" / TP / f"{TP}.ipynb", as_version=4)
    source = nbformat.read(root / "solutions" / TP / f"{TP}.ipynb", as_version=4)
    raw = corpus.build(student, source, root)
    _write_submissions(root, raw)
    return root


@pytest.fixture(scope="module")
def graded(course):
    protected = [course / "solutions" / TP / f"{TP}.ipynb", *sorted((ROOT / "lib" / "dl4f").glob("*.py")),
                 *sorted(course.glob("submitted/*/tp-rnn/tp-rnn.ipynb")), market_cache_file()]
    before = {p: _digest(p) for p in protected}
    log = []
    settings = engine.Settings(epochs=1, limits=sandbox.Limits(seconds=900, memory_gb=8), cell_timeout=400)
    results = grade.grade_class(course, TP, settings=settings, workers=2, progress=log.append)
    after = {p: _digest(p) for p in protected}
    return {"results": {r["student"]: r for r in results}, "log": log, "before": before, "after": after,
            "settings": settings}


def market_cache_file() -> Path:
    from dl4f import data

    return data.cache_path("^GSPC")


def test_every_submission_gets_what_its_honest_work_earns(graded):
    results = graded["results"]
    assert sorted(results) == sorted(corpus.EXPECTED)
    tp_course.assert_scores(results, corpus.EXPECTED)


def test_a_correct_loop_written_lstm_in_another_layout_loses_only_the_scan_point(graded):
    cells = graded["results"]["different_loop"]["cells"]
    lost = sorted(gid for gid, v in cells.items() if not v["passed"])
    assert lost == ["q4_scan"], {gid: cells[gid]["message"] for gid in lost}
    assert "scan" in cells["q4_scan"]["message"]


def test_hostile_submissions_change_nothing_they_should_not_reach(graded, course):
    assert graded["before"] == graded["after"], "a submission changed a protected file"
    with sqlite3.connect(course / "gradebook.db") as db:
        manual = db.execute("SELECT COUNT(*) FROM grade WHERE manual_score IS NOT NULL").fetchone()[0]
    assert manual == 0
    assert not any(course.rglob("pwned"))


def test_a_dead_or_unreadable_submission_says_what_happened(graded):
    results = graded["results"]
    assert "q2_answer" in results["exits"]["detail"] and "died" in results["exits"]["detail"]
    assert "not valid JSON" in results["not_json"]["detail"]
    assert all(v["points"] == 0 for v in results["not_json"]["cells"].values())
    # notes on restored cells
    notes = " ".join(results["edited"]["notes"])
    assert "q1_tests was modified" in notes and "q2_tests was deleted" in notes and "setup was deleted" in notes


def test_forged_artifacts_are_refused_with_a_reason(graded):
    cells = graded["results"]["forge"]["cells"]
    # the forged files were written into the notebook's own folder: the export writes into one the notebook never
    # saw, so they are never read, and the blank answers produce no model
    assert "was not produced" in cells["q1_lstm_structure"]["message"]
    assert "was not produced" in cells["q3_structure"]["message"]


def test_gradebook_and_autograded_notebooks_are_written_and_hide_the_hidden_tests(graded, course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, (points, _) in corpus.EXPECTED.items():
            assert gb.find_submission(TP, student).score == pytest.approx(points), student
    full = (course / "autograded" / "full" / TP / f"{TP}.ipynb").read_text()
    assert "hidden_test(" not in full and "BEGIN HIDDEN TESTS" not in full
    assert "PASSED (4/4 points)" in full  # the verdict of q4_equations
    source = nbformat.read(course / "solutions" / TP / f"{TP}.ipynb", as_version=4)
    for line in assignments.solution_lines(course / "solutions" / TP / f"{TP}.ipynb"):
        if "hidden_test" in line:
            assert line not in full
    assert source  # the source is untouched (see the digest test)


def test_feedback_and_export_with_nbgrader(graded, course):
    proc = assignments.nbgrader("generate_feedback", TP, root=course, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (course / "feedback" / "full" / TP / f"{TP}.html").read_text()
    assert "hidden_test" not in html and "BEGIN HIDDEN TESTS" not in html
    assert "30.0 / 30.0" in html or "Score: 30" in html or "30 / 30" in html
    dead = (course / "feedback" / "exits" / TP / f"{TP}.html").read_text()
    assert "died" in dead
    proc = assignments.nbgrader("export", "--to", str(course / "grades.csv"), root=course, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    csv = (course / "grades.csv").read_text()
    assert "full" in csv and "monkeypatch" in csv


def test_resume_skips_what_is_graded_and_unchanged(graded, course):
    log = []
    again = grade.grade_class(course, TP, settings=graded["settings"], workers=2, progress=log.append)
    assert again == [] and "skipped" in log[0]


def test_limits_time_and_memory_are_reported(course, tmp_path):
    student = nbformat.read(course / "exercises" / TP / f"{TP}.ipynb", as_version=4)
    forever = corpus._after(student, "setup", "while True:\n    pass\n")
    hog = corpus._after(student, "setup", (
        "import subprocess, sys, time\n"
        "code = 'import numpy as np, time; a = np.ones(int(1.2e9) // 8); time.sleep(120)'\n"
        "procs = [subprocess.Popen([sys.executable, '-c', code]) for _ in range(6)]\n"
        "time.sleep(120)\n"))
    _write_submissions(course, {"forever": nbformat.writes(forever).encode(), "hog": nbformat.writes(hog).encode()})
    settings = engine.Settings(epochs=1, limits=sandbox.Limits(seconds=150, memory_gb=4), cell_timeout=40)
    results = {r["student"]: r for r in grade.grade_class(course, TP, settings=settings, workers=2,
                                                          students=["forever", "hog"], progress=lambda s: None)}
    assert results["forever"]["status"] == "timeout" and "40 s per cell" in results["forever"]["detail"]
    assert results["hog"]["status"] == "memory" and "4 GB" in results["hog"]["detail"]
    assert results["forever"]["score"] == results["hog"]["score"] == 0


def test_a_dask_cluster_on_loopback_gives_the_same_results(graded, course):
    from distributed import LocalCluster

    students = ["edited", "forge"]  # a notebook run and a forged gradebook: enough to compare with the serial grades
    serial = {s: graded["results"][s] for s in students}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        results = grade.grade_class(course, TP, settings=graded["settings"], scheduler=cluster.scheduler_address,
                                    students=students, force=True, progress=lambda s: None)
    for r in results:
        s = serial[r["student"]]
        assert (r["score"], r["status"], r["detail"]) == (s["score"], s["status"], s["detail"])
        assert {g: (v["points"], v["message"]) for g, v in r["cells"].items()} == \
               {g: (v["points"], v["message"]) for g, v in s["cells"].items()}
    recorded = json.loads((course / "grades" / TP / "forge.json").read_text())
    assert recorded["score"] == 0


def test_the_cli_refuses_to_grade_unsandboxed_without_the_flag(tmp_path):
    code = ("import sys; from dl4f_grading import sandbox; sandbox.available = lambda: False; "
            "from dl4f import cli; sys.exit(cli.main(['tp', 'grade', 'tp-rnn']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "bubblewrap" in proc.stderr and "--unsandboxed" in proc.stderr
