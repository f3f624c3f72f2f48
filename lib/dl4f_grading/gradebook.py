"""Writing results into nbgrader's gradebook, so that nbgrader stays the instructor's interface.

Only the coordinating process calls this (``dl4f_grading.grade``): workers and sandboxes never see the
gradebook. A result replaces the student's previous submission of the TP: its automatic scores per graded cell,
the run's status as the automatic comment of the first answer cell, and the autograded notebook in
``autograded/<student>/<tp>/<tp>.ipynb``, which ``nbgrader generate_feedback`` and the formgrader read. Manual
grades of an unchanged cell are carried over from the replaced submission.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry


def db_url(root: Path) -> str:
    return "sqlite:///" + str(Path(root) / "gradebook.db")


def check_assignment(root: Path, tp: str) -> None:
    """Raise ``RuntimeError`` with what to do if the gradebook does not know ``tp`` yet."""
    with Gradebook(db_url(root)) as gb:
        try:
            gb.find_assignment(tp)
        except MissingEntry:
            raise RuntimeError(f"the gradebook has no assignment {tp!r}: run `dl4f tp release {tp}` first "
                               "(it registers the graded cells)") from None


def record(root: Path, result: dict, autograded: str | None) -> None:
    """Write one result (see ``engine.grade_submission``) into the gradebook and ``autograded/``."""
    tp, student = result["tp"], result["student"]
    notebook = tp
    with Gradebook(db_url(root)) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's add_submission warns about SQLAlchemy autoflush: harmless
        gb.update_or_create_student(student)
        manual = {}
        try:
            old = gb.find_submission_notebook(notebook, tp, student)
            manual = {g.name: (g.manual_score, g.extra_credit) for g in old.grades if g.manual_score is not None}
            gb.remove_submission(tp, student)
        except MissingEntry:
            pass
        gb.add_submission(tp, student, timestamp=dt.datetime.now(dt.UTC).isoformat())
        nb = gb.find_submission_notebook(notebook, tp, student)
        for grade in nb.grades:
            cell = result["cells"].get(grade.name)
            if cell is not None:
                grade.auto_score = float(cell["points"])
            elif grade.name in manual:
                grade.manual_score, grade.extra_credit = manual[grade.name]
        comments = sorted(nb.comments, key=lambda c: c.name)
        if comments:
            status = result["status"] + (f": {result['detail']}" if result.get("detail") else "")
            comments[0].auto_comment = f"Grading status: {status}"
        gb.db.commit()
    if autograded is not None:
        out = Path(root) / "autograded" / student / tp / f"{tp}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(autograded)
        tmp.replace(out)
