"""The durable queue: jobs in the database, claimed under a lease that the worker's heartbeat renews.

Written here rather than taken from a queue library: the maintained ones (Celery, RQ, Dramatiq, procrastinate)
need a broker (Redis, RabbitMQ) or PostgreSQL only, and this queue must work on SQLite too. The claim is one
statement, ``UPDATE jobs SET ... WHERE id = (SELECT id ... LIMIT 1 [FOR UPDATE SKIP LOCKED]) AND <claimable>
RETURNING id``: on PostgreSQL the subquery skips rows another worker is claiming (SKIP LOCKED); on SQLite the
statement holds the database's single write lock from start to end, and the outer condition is checked again
under it, so two workers never claim the same job.

A job is claimable when queued (and past its retry backoff) or running with an expired lease (its worker died),
while it has been claimed fewer than ``max_attempts`` times; past that it is failed with the reason.
"""

from __future__ import annotations

import json
import time

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from dl4f_service.models import Job, Submission


def _stamp(line: str) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S ", time.gmtime()) + line + "\n"


def enqueue(session: Session, submission_id: str, now: float | None = None) -> Job:
    """Add a job for ``submission_id`` to ``session`` (committed with the submission: one transaction)."""
    now = time.time() if now is None else now
    job = Job(submission_id=submission_id, state="queued", attempts=0, available_at=now, created_at=now,
              log=_stamp("queued"), worker="", error="")
    session.add(job)
    return job


def _claimable(now: float, max_attempts: int):
    return and_(Job.attempts < max_attempts,
                or_(and_(Job.state == "queued", Job.available_at <= now),
                    and_(Job.state == "running", Job.lease_until < now)))


def expire(engine: Engine, max_attempts: int, now: float | None = None) -> int:
    """Fail the jobs whose lease expired after their last allowed attempt, with the reason; return how many."""
    now = time.time() if now is None else now
    reason = (f"the grading was interrupted {max_attempts} time(s) (the worker stopped or lost the database "
              "before finishing); ask the instructor to re-grade it")
    with Session(engine) as session, session.begin():
        stale = select(Job.id, Job.submission_id).where(Job.state == "running", Job.lease_until < now,
                                                        Job.attempts >= max_attempts)
        rows = session.execute(stale).all()
        for job_id, submission_id in rows:
            done = session.execute(update(Job).where(Job.id == job_id, Job.state == "running", Job.lease_until < now)
                                   .values(state="failed", error=reason, finished_at=now,
                                           log=Job.log + _stamp(f"failed: {reason}")))
            if done.rowcount:
                _set_failed(session, submission_id, reason)
    return len(rows)


def _set_failed(session: Session, submission_id: str, reason: str) -> None:
    session.execute(update(Submission).where(Submission.id == submission_id)
                    .values(state="failed", phase="", detail=reason))


def claim(engine: Engine, worker: str, lease_seconds: float, max_attempts: int, now: float | None = None) -> int | None:
    """Claim the oldest claimable job for ``worker``: its id, or None when there is none."""
    now = time.time() if now is None else now
    pick = (select(Job.id).where(_claimable(now, max_attempts)).order_by(Job.id).limit(1)
            .with_for_update(skip_locked=True)).scalar_subquery()  # FOR UPDATE SKIP LOCKED: PostgreSQL only
    with Session(engine) as session, session.begin():
        job_id = session.execute(
            update(Job).where(Job.id == pick, _claimable(now, max_attempts))
            .values(state="running", worker=worker, lease_until=now + lease_seconds, attempts=Job.attempts + 1,
                    log=Job.log + _stamp(f"claimed by {worker}"))
            .returning(Job.id)).scalar()
        if job_id is not None:
            submission_id = session.get(Job, job_id).submission_id
            session.execute(update(Submission).where(Submission.id == submission_id)
                            .values(state="running", phase="starting", cell=None, cells=None))
    return job_id


def heartbeat(engine: Engine, job_id: int, worker: str, lease_seconds: float, progress: dict | None = None) -> bool:
    """Renew the lease (and show the phase); False when the job is no longer this worker's (lease lost)."""
    now = time.time()
    with Session(engine) as session, session.begin():
        held = session.execute(update(Job).where(Job.id == job_id, Job.worker == worker, Job.state == "running")
                               .values(lease_until=now + lease_seconds)).rowcount
        if held and progress:
            submission_id = session.get(Job, job_id).submission_id
            session.execute(update(Submission).where(Submission.id == submission_id)
                            .values(phase=str(progress.get("phase", ""))[:32], cell=progress.get("cell"),
                                    cells=progress.get("cells")))
    return bool(held)


def complete(engine: Engine, job_id: int, worker: str, result: dict, autograded: str | None) -> bool:
    """Write the result, in one transaction with the job's end; False (nothing written) when the lease was lost."""
    now = time.time()
    with Session(engine) as session, session.begin():
        done = session.execute(update(Job).where(Job.id == job_id, Job.worker == worker, Job.state == "running")
                               .values(state="done", finished_at=now, log=Job.log + _stamp(f"graded by {worker}")))
        if not done.rowcount:
            return False
        submission_id = session.get(Job, job_id).submission_id
        session.execute(update(Submission).where(Submission.id == submission_id).values(
            state="graded", phase="", status=str(result.get("status", ""))[:32], detail=str(result.get("detail", "")),
            score=float(result.get("score", 0.0)), max_score=float(result.get("max_score", 0.0)),
            result=json.dumps(result), autograded=autograded or "", graded_at=now))
    return True


def give_up(engine: Engine, job_id: int, worker: str, error: str, max_attempts: int, retry_in: float = 2.0) -> str:
    """After a grader error: queue the job again (backoff), or fail it with the reason after ``max_attempts``.
    Returns the job's new state."""
    now = time.time()
    with Session(engine) as session, session.begin():
        job = session.get(Job, job_id)
        if job is None or job.worker != worker or job.state != "running":
            return "lost"
        if job.attempts >= max_attempts:
            reason = f"the grader failed {job.attempts} time(s): {error[:300]}"
            job.state, job.error, job.finished_at = "failed", reason, now
            job.log += _stamp(f"failed: {reason}")
            _set_failed(session, job.submission_id, reason)
        else:
            job.state, job.error, job.available_at, job.lease_until = "queued", error[:1000], now + retry_in, None
            job.log += _stamp(f"error on {worker}: {error[:300]}; queued again")
            session.execute(update(Submission).where(Submission.id == job.submission_id).values(state="queued", phase=""))
        return job.state


def release(engine: Engine, job_id: int, worker: str) -> bool:
    """A worker asked to stop (SIGTERM) gives its job back, queued, without counting the interrupted attempt."""
    with Session(engine) as session, session.begin():
        done = session.execute(update(Job).where(Job.id == job_id, Job.worker == worker, Job.state == "running")
                               .values(state="queued", attempts=Job.attempts - 1, lease_until=None, worker="",
                                       log=Job.log + _stamp(f"released by {worker} (stopped); queued again")))
        if done.rowcount:
            submission_id = session.get(Job, job_id).submission_id
            session.execute(update(Submission).where(Submission.id == submission_id)
                            .values(state="queued", phase="", cell=None, cells=None))
    return bool(done.rowcount)


def requeue(session: Session, submission_id: str) -> Job:
    """A re-grade (the instructor's button): a new job for the submission, which shows as queued again."""
    session.execute(update(Submission).where(Submission.id == submission_id)
                    .values(state="queued", phase="", cell=None, cells=None))
    return enqueue(session, submission_id)


def pending(engine: Engine) -> int:
    """Jobs still to grade: queued (maybe waiting for a retry) or running."""
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(Job).where(Job.state.in_(("queued", "running")))).scalar()


def position(session: Session, submission_id: str) -> int | None:
    """1 for the next job to be claimed; None when the submission has no queued job."""
    job_id = session.execute(select(func.max(Job.id)).where(Job.submission_id == submission_id,
                                                            Job.state == "queued")).scalar()
    if job_id is None:
        return None
    return session.execute(select(func.count()).select_from(Job).where(Job.state == "queued", Job.id <= job_id)).scalar()
