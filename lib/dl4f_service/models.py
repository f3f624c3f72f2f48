"""The tables (SQLAlchemy 2). The schema itself is created only by the migrations (``migrations/versions``).

Times are Unix seconds (floats): the same on SQLite and PostgreSQL, compared by the workers' clocks.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Student(Base):
    __tablename__ = "students"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the roster's id, or "anon-..." in open mode
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    created_from: Mapped[str] = mapped_column(String(64), default="")  # a hash of the IP that joined (open mode)


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # secrets.token_urlsafe: never guessable
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"), index=True)
    tp: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    notebook: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued, running, graded, failed
    phase: Mapped[str] = mapped_column(String(32), default="")  # running, exporting, judging (while running)
    cell: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cells: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="")  # the engine's: graded, dead, timeout, ...
    detail: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    late_days: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str] = mapped_column(Text, default="")  # the engine's result (JSON)
    autograded: Mapped[str] = mapped_column(Text, default="")  # the autograded notebook (JSON, hidden code removed)
    graded_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Job(Base):
    """One grading of a submission (a re-grade adds a job). Claimed with a lease that heartbeats renew."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # queued, running, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # claims so far
    available_at: Mapped[float] = mapped_column(Float)  # not claimed before (retry backoff)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    worker: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    log: Mapped[str] = mapped_column(Text, default="")  # one line per event: claims, lost leases, errors
