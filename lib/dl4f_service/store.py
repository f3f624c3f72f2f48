"""What the pages and the CLI read and write: roster, submissions, counted scores, the class table."""

from __future__ import annotations

import csv
import io
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dl4f_service import policy, queue
from dl4f_service.config import Config
from dl4f_service.models import Job, Student, Submission


class RosterError(ValueError):
    """The roster CSV is malformed: the message says which line and what to fix."""


def import_roster(session: Session, text: str) -> tuple[int, int]:
    """Add or update students from CSV ``id,name,email`` (never deletes). Returns (added, updated)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "id" not in [f.strip() for f in reader.fieldnames]:
        raise RosterError("the roster must be a CSV with a header line id,name,email")
    added = updated = 0
    for line, row in enumerate(reader, start=2):
        row = {str(k).strip(): (v or "").strip() for k, v in row.items() if k is not None}
        sid = row.get("id", "")
        if not sid or len(sid) > 100 or not all(c.isalnum() or c in "-_." for c in sid):
            raise RosterError(f"line {line}: the id {sid!r} must be 1-100 letters, digits, '-', '_' or '.'")
        student = session.get(Student, sid)
        if student is None:
            session.add(Student(id=sid, name=row.get("name", ""), email=row.get("email", ""), anonymous=False,
                                created_at=time.time(), created_from=""))
            added += 1
        else:
            student.name, student.email = row.get("name", student.name), row.get("email", student.email)
            updated += 1
    return added, updated


def new_submission(session: Session, student: Student, tp: str, raw: bytes, filename: str, config: Config) -> str:
    """Store a submission and its job (the caller commits both at once); return its id."""
    now = time.time()
    sid = secrets.token_urlsafe(16)
    session.add(Submission(id=sid, student_id=student.id, tp=tp, created_at=now, filename=filename[:255], notebook=raw,
                           state="queued", phase="", status="", detail="", result="", autograded="",
                           late_days=policy.late_days(now, config.tps[tp])))
    session.flush()
    queue.enqueue(session, sid, now)
    return sid


def recent_count(session: Session, student_id: str, since: float) -> tuple[int, float | None]:
    """(submissions of the student since ``since``, the time of the oldest of them)."""
    return session.execute(select(func.count(), func.min(Submission.created_at))
                           .where(Submission.student_id == student_id, Submission.created_at >= since)).one()


def attempts_of(session: Session, student_id: str, tp: str) -> list[Submission]:
    return list(session.scalars(select(Submission).where(Submission.student_id == student_id, Submission.tp == tp)
                                .order_by(Submission.created_at)))


@dataclass
class TPSummary:
    tp: str
    attempts: int
    counted_id: str | None
    counted: float | None
    max_score: float | None
    status: str
    late_days: int


def summarize(subs: list[Submission], tp: str, config: Config) -> TPSummary:
    """A student's standing on one TP: attempts, the counted score (after penalty), the latest state."""
    attempts = [policy.Attempt(s.id, s.created_at, s.score if s.state == "graded" else None, s.max_score, s.late_days)
                for s in subs]
    chosen, value = policy.counted(attempts, config.tps[tp])
    latest = subs[-1] if subs else None
    status = "" if latest is None else (latest.status if latest.state == "graded" else latest.state)
    return TPSummary(tp, len(subs), chosen.id if chosen else None, value, chosen.max_score if chosen else None, status,
                     chosen.late_days if chosen else (latest.late_days if latest else 0))


def class_table(session: Session, config: Config) -> list[tuple[Student, list[TPSummary]]]:
    students = list(session.scalars(select(Student).order_by(Student.anonymous, Student.id)))
    subs: dict[tuple[str, str], list[Submission]] = {}
    for s in session.scalars(select(Submission).order_by(Submission.created_at)):
        subs.setdefault((s.student_id, s.tp), []).append(s)
    return [(st, [summarize(subs.get((st.id, tp), []), tp, config) for tp in config.tps]) for st in students]


def grades_csv(session: Session, config: Config) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "name", "email", "tp", "counted_score", "max_score", "attempts", "status", "late_days",
                     "counted_submission"])
    for student, rows in class_table(session, config):
        for r in rows:
            counted = "" if r.counted is None else f"{r.counted:g}"
            maximum = "" if r.max_score is None else f"{r.max_score:g}"
            writer.writerow([student.id, student.name, student.email, r.tp, counted, maximum, r.attempts, r.status,
                             r.late_days, r.counted_id or ""])
    return out.getvalue()


def jobs_of(session: Session, submission_id: str) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.submission_id == submission_id).order_by(Job.id)))
