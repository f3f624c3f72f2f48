"""A whole class: ``dl4f tp grade <tp>`` grades every submission, in parallel, resumably.

Submissions are read from ``submitted/<student>/<tp>/*.ipynb`` (``dl4f tp collect`` puts them there). Each
one becomes an ``engine.Job`` (plain data) graded by ``engine.grade_submission`` in a worker: a local process
pool (as many workers as cores by default) or, with ``scheduler``, the workers of a Dask distributed cluster,
each task shipping one submission and bringing back its result and autograded notebook. This process alone
writes what is recorded: ``grades/<tp>/<student>.json`` (the result, with the key of what was graded),
``autograded/``, and the gradebook.

Resumable: a submission whose key (its bytes, the TP's notebooks, the settings, the grading code) matches its
recorded result is skipped. Results do not depend on the number of workers: every run of a submission starts
from the same files with the same seeds. The seed of a submission's secret inputs depends on the student, the TP
and the attempt (a digest of the submission's bytes): a resubmission meets new secrets.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from dl4f_grading import engine, gradebook, sandbox

SECRET_FILE = ".dl4f-grading-secret"


def course_secret(root: Path) -> bytes:
    """The course's secret (created on first use, readable by the instructor only): it seeds the grader's probes."""
    path = Path(root) / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def submissions(root: Path, tp: str, students: list[str] | None = None) -> dict[str, Path]:
    """``{student: notebook}`` from ``submitted/<student>/<tp>/``; a folder without exactly one notebook is reported."""
    found = {}
    base = Path(root) / "submitted"
    for folder in sorted(base.glob(f"*/{tp}")) if base.exists() else []:
        student = folder.parent.name
        if students and student not in students:
            continue
        preferred = folder / f"{tp}.ipynb"
        notebooks = [preferred] if preferred.exists() else sorted(folder.glob("*.ipynb"))
        found[student] = notebooks[0] if len(notebooks) == 1 else folder
    missing = sorted(set(students or []) - set(found))
    if missing:
        raise FileNotFoundError(f"no submission of {tp} for {', '.join(missing)} in {base}")
    return found


def _result_path(root: Path, tp: str, student: str) -> Path:
    return Path(root) / "grades" / tp / f"{student}.json"


def _recorded_key(root: Path, tp: str, student: str) -> str | None:
    try:
        return json.loads(_result_path(root, tp, student).read_text()).get("key")
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _save_result(root: Path, result: dict) -> None:
    path = _result_path(root, result["tp"], result["student"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)


def grade_class(root: Path, tp: str, *, settings: engine.Settings | None = None, workers: int | None = None,
                scheduler: str | None = None, students: list[str] | None = None, force: bool = False,
                allow_unsandboxed: bool = False, progress: Callable[[str], None] = print) -> list[dict]:
    """Grade every submission of ``tp`` under ``root`` (see the module docstring); return the results."""
    root = Path(root).resolve()
    settings = settings or engine.Settings()
    settings.sandboxed = sandbox.require(allow_unsandboxed)
    if not settings.sandboxed:
        progress("WARNING: grading WITHOUT a sandbox (--unsandboxed): submissions can read and change this course")
    source_path = root / "solutions" / tp / f"{tp}.ipynb"
    release_path = root / "exercises" / tp / f"{tp}.ipynb"
    for path, what in ((source_path, "source notebook"), (release_path, f"student version (dl4f tp release {tp})")):
        if not path.exists():
            raise FileNotFoundError(f"no {what} at {path}")
    gradebook.check_assignment(root, tp)
    for folder in engine.sweep_work_folders():
        progress(f"removed the work folder {folder} of a grading process that is gone (its submission is graded again)")
    source = json.loads(source_path.read_text())
    release = json.loads(release_path.read_text())
    secret = course_secret(root)
    fingerprint = engine.grader_fingerprint()
    todo, skipped = [], []
    for student, path in submissions(root, tp, students).items():
        raw = path.read_bytes() if path.is_file() else b""
        # secrets drawn per attempt: a resubmission meets new ones, the same file gets the same ones again
        seed = engine.student_seed(secret, tp, student, attempt=engine.attempt_of(raw))
        job = engine.Job(tp, student, raw, source, release, settings.as_dict(), seed)
        key = engine.job_key(job, fingerprint)
        recorded = _recorded_key(root, tp, student) == key
        if not force and recorded and (root / "autograded" / student / tp / f"{tp}.ipynb").exists():
            skipped.append(student)
            continue
        todo.append((job, key, path))
    if skipped:
        progress(f"{len(skipped)} submission(s) unchanged since their last grading: skipped ({', '.join(skipped)})")
    if not todo:
        return []
    results = []

    def finish(job, key, path, future):
        try:
            out = future.result()
        except Exception as exc:  # noqa: BLE001  (a grader failure on one submission must not stop the class)
            out = {"result": {"tp": tp, "student": job.student, "status": "grader-error",
                              "detail": f"{type(exc).__name__}: {str(exc)[:300]}", "notes": [], "cells": {},
                              "score": 0.0, "max_score": 0.0, "seconds": {}}, "autograded": None}
            progress(f"{job.student}: the grader failed ({type(exc).__name__}: {exc}); nothing recorded for them")
            results.append(out["result"])
            return
        result = out["result"]
        if not path.is_file():
            result.update(status="unreadable", detail=f"{path} must hold exactly one notebook")
        result["key"] = key
        _save_result(root, result)
        gradebook.record(root, result, out["autograded"])
        results.append(result)
        progress(line(result))

    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            futures = {client.submit(engine.grade_submission, job.__dict__, key=f"grade-{tp}-{job.student}-{key[:12]}",
                                     pure=False): (job, key, path) for job, key, path in todo}
            from distributed import as_completed as dask_completed

            for future in dask_completed(futures):
                finish(*futures[future], future)
    else:
        n = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        progress(f"grading {len(todo)} submission(s) of {tp} with {n} worker(s)")
        with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"), initializer=engine.prepare_worker,
                                 initargs=(tp,)) as pool:
            futures = {pool.submit(engine.grade_submission, job.__dict__): (job, key, path) for job, key, path in todo}
            for future in as_completed(futures):
                finish(*futures[future], future)
    return sorted(results, key=lambda r: r["student"])


def line(result: dict) -> str:
    detail = f" ({result['detail']})" if result.get("detail") else ""
    return (f"{result['student']:<20} {result['score']:>5g} / {result['max_score']:g}  {result['status']}{detail}")


def table(results: list[dict]) -> str:
    return "\n".join(line(r) for r in results)
