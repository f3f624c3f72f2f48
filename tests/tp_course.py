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


def assert_autograded_clean(root: Path, tp: str, passed: str, score: float = 30) -> None:
    """The ``full`` submission's autograded notebook shows a verdict (``passed``, e.g. "PASSED (3/3 points)") and
    no hidden-test code; its recorded result has ``score`` and the time of each phase (how long they take is
    ``benchmarks/grading.py``'s to measure, not a test's)."""
    import json

    full = (root / "autograded" / "full" / tp / f"{tp}.ipynb").read_text()
    assert "hidden_test(" not in full and "BEGIN HIDDEN TESTS" not in full and passed in full
    for line in assignments.solution_lines(root / "solutions" / tp / f"{tp}.ipynb"):
        if "hidden_test" in line:
            assert line not in full
    recorded = json.loads((root / "grades" / tp / "full.json").read_text())
    assert recorded["score"] == score, recorded
    assert all(recorded["seconds"][phase] > 0 for phase in ("run", "export", "judge", "total")), recorded["seconds"]


def assert_tp_pages(tp: str, chapter_dir: str, section: str, hidden_cells: int | None = None) -> list[dict]:
    """The TP's page is rendered, the student notebook is a resource linked by the page and clean, the module
    overview links the page, and the corrected page is an executed draft (neither rendered nor in the sidebar until
    published) whose hidden tests are removed from the page (``hidden_cells`` of them, if given). Returns the
    entries of the sidebar section ``section``'s "Travaux Pratiques" (each TP file asserts its own place there)."""
    import yaml

    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    page, corrected_page = f"{chapter_dir}/{tp}.qmd", str(assignments.CORRECTED[tp])
    render = config["project"]["render"]
    assert page in render and corrected_page not in render  # a draft is not rendered until `dl4f tp publish`
    assert f"exercises/{tp}/{tp}.ipynb" in config["project"]["resources"]
    assert f"../../exercises/{tp}/{tp}.ipynb" in (ROOT / page).read_text()
    assert f"{tp}.qmd" in (ROOT / chapter_dir / "index.qmd").read_text()
    assignments.check_student_version(ROOT / "exercises" / tp / f"{tp}.ipynb", ROOT / "solutions" / tp / f"{tp}.ipynb")
    corrected = nbformat.read(ROOT / corrected_page, as_version=4)
    assert "BEGIN SOLUTION" not in "\n".join(c.source for c in corrected.cells)
    assert "draft: true" in corrected.cells[0].source
    assert not [o for c in corrected.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    hidden = [c for c in corrected.cells if "hidden_test(" in c.source]
    assert hidden and all("remove-cell" in c.metadata.get("tags", []) for c in hidden)
    assert hidden_cells is None or len(hidden) == hidden_cells, len(hidden)
    module = next(s for s in config["website"]["sidebar"]["contents"] if s.get("section") == section)
    tps = next(s for s in module["contents"] if isinstance(s, dict) and s.get("section") == "Travaux Pratiques")
    return tps["contents"]


def assert_source_is_gradable(tp: str, grader, framework: str = "keras") -> None:
    """Every graded cell of the TP's source has a trusted check in ``grader.CELLS`` (30 points in all), its hidden
    tests are tagged ``remove-cell`` and name the TP, and its setup imports ``dl4f`` before ``framework``."""
    source = nbformat.read(ROOT / "solutions" / tp / f"{tp}.ipynb", as_version=4)
    graded = engine.graded_cells(source)
    assert sorted(c["grade_id"] for c in graded) == sorted(grader.CELLS)
    assert sum(c["points"] for c in graded) == 30
    hidden = [c for c in source.cells if "BEGIN HIDDEN TESTS" in c.source]
    assert hidden and all(c.metadata["tags"] == ["remove-cell"] and f'tp="{tp}"' in c.source for c in hidden)
    setup = next(c for c in source.cells if c.metadata["nbgrader"]["grade_id"] == "setup").source
    assert setup.index("import dl4f") < setup.index(f"import {framework}")
