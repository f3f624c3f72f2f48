"""``dl4f service gradebook``: the counted attempt of each student and TP, written into nbgrader's gradebook (and
``autograded/``) by ``dl4f_grading.gradebook.record``, so that ``nbgrader export``, feedback and the formgrader
keep working. A late penalty goes into nbgrader's own ``late_submission_penalty`` of the submitted notebook."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from nbgrader.api import Gradebook
from sqlalchemy import select

from dl4f_grading import gradebook
from dl4f_service import policy, store
from dl4f_service.config import Config
from dl4f_service.models import Student, Submission


def sync(sessions, root: Path, config: Config, tps: list[str] | None = None) -> list[tuple[str, str, float]]:
    """Record every counted attempt; return ``[(student, tp, counted score)]``."""
    written = []
    for tp in tps or list(config.tps):
        gradebook.check_assignment(root, tp)
        with sessions() as session:
            students = [s.id for s in session.scalars(select(Student).order_by(Student.id))]
            for student in students:
                subs = store.attempts_of(session, student, tp)
                summary = store.summarize(subs, tp, config)
                if summary.counted_id is None:
                    continue
                sub = session.get(Submission, summary.counted_id)
                result = json.loads(sub.result)
                result["student"] = student
                gradebook.record(root, result, sub.autograded or None)
                penalty = sub.score - policy.penalized(sub.score, sub.max_score, sub.late_days, config.tps[tp])
                with Gradebook(gradebook.db_url(root)) as gb, warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    nb = gb.find_submission_notebook(tp, tp, student)
                    nb.late_submission_penalty = penalty if penalty > 0 else None
                    gb.db.commit()
                written.append((student, tp, summary.counted))
    return written
