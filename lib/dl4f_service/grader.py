"""One grading loop of ``dl4f worker``: claim jobs from the database and grade them with the trusted engine.

Each worker process loops: claim a job (``queue.claim``), grade it with ``engine.grade_submission`` while a
heartbeat thread renews the lease (and shows the phase), write the result and the job's end in one transaction.
A worker that loses the database retries; one that loses its lease (it was too slow to renew it, another took the
job) writes nothing. ``dl4f_service.worker`` runs one loop per process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from dl4f_grading import engine, grade, sandbox
from dl4f_service import db, queue
from dl4f_service.config import Config
from dl4f_service.models import Job, Submission

POLL_SECONDS = 0.5  # an idle worker asks for a job this often
PARENT: int | None = None  # the `dl4f worker` process of a child loop: the loop ends with it


class Stopped(BaseException):
    """SIGTERM: finish nothing new, give the current job back (``queue.release``)."""


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM (the parent's) must not interrupt the release
    raise Stopped


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} worker {os.getpid()}: {message}", file=sys.stderr, flush=True)


def settings_of(config: Config, sandboxed: bool) -> engine.Settings:
    g = config.grading
    return engine.Settings(epochs=g.epochs, limits=sandbox.Limits(seconds=g.time_limit, memory_gb=g.memory_gb),
                           cell_timeout=g.cell_timeout, sandboxed=sandboxed)


class TPFiles:
    """The TPs' source and student notebooks (read once per worker, from the course root)."""

    def __init__(self, root: Path):
        self.root, self.cache = root, {}

    def get(self, tp: str) -> tuple[dict, dict]:
        if tp not in self.cache:
            source = self.root / "solutions" / tp / f"{tp}.ipynb"
            release = self.root / "exercises" / tp / f"{tp}.ipynb"
            for path in (source, release):
                if not path.exists():
                    raise FileNotFoundError(f"{path} is missing on this worker (copy the course, then "
                                            f"`dl4f tp release {tp}`)")
            self.cache[tp] = (json.loads(source.read_text()), json.loads(release.read_text()))
        return self.cache[tp]


class Heartbeat(threading.Thread):
    """Renews the job's lease every third of it and writes the latest progress; ``lost`` once it is gone."""

    def __init__(self, engine_, job_id: int, worker: str, lease_seconds: float):
        super().__init__(daemon=True)
        self.engine, self.job_id, self.worker, self.lease = engine_, job_id, worker, lease_seconds
        self.progress: dict | None = None
        self.changed = threading.Event()
        self.stopped = threading.Event()
        self.lost = False

    def report(self, event: dict) -> None:
        self.progress = event
        self.changed.set()
    def run(self) -> None:
        while not self.stopped.is_set():
            self.changed.wait(self.lease / 3)
            if PARENT is not None and os.getppid() != PARENT:
                os._exit(1)  # the parent `dl4f worker` was killed: stop grading now (the lease will expire)
            self.changed.clear()
            if self.stopped.is_set():
                return
            try:
                if not queue.heartbeat(self.engine, self.job_id, self.worker, self.lease, self.progress):
                    self.lost = True
                    log(f"job {self.job_id}: lease lost (another worker took it); its result will not be written")
                    return
            except Exception as exc:  # noqa: BLE001  (database briefly unavailable: try again at the next beat)
                log(f"job {self.job_id}: heartbeat failed ({type(exc).__name__}); retrying")
            time.sleep(0.2)  # at most five writes a second, however fast the cells end


def grade_one(engine_, sessions, config: Config, files: TPFiles, secret: bytes, job_id: int, worker: str,
              sandboxed: bool) -> None:
    with sessions() as session:
        job = session.get(Job, job_id)
        sub = session.get(Submission, job.submission_id)
        tp, student, raw, sid = sub.tp, sub.student_id, sub.notebook, sub.id
    beat = Heartbeat(engine_, job_id, worker, config.service.lease_seconds)
    beat.start()
    try:
        source, release = files.get(tp)
        # secrets drawn per attempt: each submission (its id) meets new ones
        seed = engine.student_seed(secret, tp, student, attempt=sid)
        job = engine.Job(tp, student, raw, source, release, settings_of(config, sandboxed).as_dict(), seed)
        log(f"job {job_id}: grading {tp} of {student} (submission {sid[:6]}...)")
        out = engine.grade_submission(job.__dict__, progress=beat.report)
    except Stopped:
        beat.stopped.set()
        beat.changed.set()
        released = db.retry(lambda: queue.release(engine_, job_id, worker), log=log, give_up_after=10)
        log(f"job {job_id}: " + ("given back to the queue" if released else "not this worker's any more"))
        raise
    except Exception as exc:  # noqa: BLE001  (a grader failure: retried, then failed with its reason)
        beat.stopped.set()
        beat.changed.set()
        error = f"{type(exc).__name__}: {exc}"
        log(f"job {job_id}: the grader failed ({error})")
        state = db.retry(lambda: queue.give_up(engine_, job_id, worker, error, config.service.max_attempts), log=log)
        log(f"job {job_id}: {state}")
        return
    beat.stopped.set()
    beat.changed.set()
    if beat.lost:
        return
    written = db.retry(lambda: queue.complete(engine_, job_id, worker, out["result"], out["autograded"]), log=log)
    result = out["result"]
    log(f"job {job_id}: " + (grade.line(result) if written else "lease lost before the result was written: dropped"))


def loop(url: str, root: str, config: Config, once: bool = False, parent: int | None = None,
         allow_unsandboxed: bool = False) -> None:
    """One worker: claim and grade until stopped (``once``: until no job is queued or running)."""
    global PARENT
    PARENT = parent
    root_path = Path(root).resolve()
    engine_ = db.make_engine(url, config.service.db_timeout_seconds)
    sessions = db.sessions(engine_)
    sandboxed = sandbox.require(allow_unsandboxed)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    files = TPFiles(root_path)
    secret = grade.course_secret(root_path)
    while not db.retry(lambda: db.is_current(engine_), log=log):
        log("the database's schema is not migrated yet (start `dl4f serve` or run `dl4f service migrate`); waiting")
        time.sleep(2)
    for folder in engine.sweep_work_folders():  # a killed worker's runs: the job was given back and regraded
        log(f"removed the work folder {folder} of a grading process that is gone")
    log(f"ready ({worker}, {'sandboxed' if sandboxed else 'UNSANDBOXED'})")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _claim_and_grade(engine_, sessions, config, files, secret, worker, sandboxed, once)
    except Stopped:
        log("stopped (SIGTERM)")
    except db.DatabaseUnavailable as exc:
        log(f"stopped: {exc}")


def _claim_and_grade(engine_, sessions, config: Config, files: TPFiles, secret: bytes, worker: str, sandboxed: bool,
                     once: bool) -> None:
    max_attempts, lease = config.service.max_attempts, config.service.lease_seconds
    while True:
        if PARENT is not None and os.getppid() != PARENT:
            return  # the parent `dl4f worker` died: so does this loop
        db.retry(lambda: queue.expire(engine_, max_attempts), log=log)
        job_id = db.retry(lambda: queue.claim(engine_, worker, lease, max_attempts), log=log)
        if job_id is None:
            if once and db.retry(lambda: queue.pending(engine_), log=log) == 0:
                return
            time.sleep(POLL_SECONDS)
            continue
        grade_one(engine_, sessions, config, files, secret, job_id, worker, sandboxed)
