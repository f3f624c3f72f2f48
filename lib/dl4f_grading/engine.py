"""Grading one submission: compose -> sandboxed run -> artifacts -> trusted checks -> result.

``grade_submission(job)`` takes plain data (the submission's bytes, the source and released notebooks, the
settings) and returns plain data (the result and the autograded notebook as JSON), so that it runs the same in
a local worker process and on a Dask worker. It writes nothing outside its temporary folder: the coordinator
(``dl4f_grading.grade``) alone writes the gradebook, the result files and the autograded notebooks.

The points of each graded cell come from the TP's trusted checks (``dl4f_grading.<tp>.CELLS``), run by
``judge.run_judge`` in a process that never ran student code, on the files the sandbox left. Whatever the
student's code did in its own process (patched modules, input transformers, environment variables, exits),
only those files reach the decision.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from dl4f_grading import compose, judge, sandbox, source_checks

GRADER_FILES = ("dl4f_grading", "dl4f")  # packages whose code decides a grade: part of a result's key
SAFE_OUTPUT_TYPES = ("text/plain", "image/png")  # what the feedback shows of the student's own outputs


@dataclass
class Settings:
    """The instructor's grading settings: they alone decide limits and thresholds."""

    epochs: int | None = None  # None: the TP's recipe; fewer epochs than the recipe -> quick thresholds
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    cell_timeout: int = 600
    sandboxed: bool = True

    def as_dict(self) -> dict:
        return {**asdict(self), "limits": asdict(self.limits)}

    @classmethod
    def from_dict(cls, d: dict) -> Settings:
        return cls(d.get("epochs"), sandbox.Limits(**d["limits"]), d["cell_timeout"], d["sandboxed"])


@dataclass
class Job:
    tp: str
    student: str
    submission: bytes
    source: dict  # the instructor's source notebook (JSON): solutions, hidden tests, points
    release: dict  # the student version (JSON)
    settings: dict
    seed: int
    data_dir: str | None = None


def graded_cells(source: nbformat.NotebookNode) -> list[dict]:
    """The automatically graded cells of the source, in order: grade_id, points, hidden, the preceding grade_id."""
    out, previous = [], None
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid and meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
            out.append({"grade_id": gid, "points": float(meta.get("points", 0)),
                        "hidden": "BEGIN HIDDEN TESTS" in cell.source, "after": previous,
                        "title": _title(cell.source)})
        if gid:
            previous = gid
    return out


def _title(source: str) -> str:
    lines = []
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            break
        if line.startswith("#"):
            lines.append(line)
    return "\n".join(lines) or "# Hidden test"


def student_seed(secret: bytes, tp: str, student: str) -> int:
    """The seed of a student's probes and tasks: secret to the students, the same at every run."""
    digest = hmac.new(secret, f"{tp}/{student}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


def grader_fingerprint() -> str:
    """A hash of the grading code (dl4f and dl4f_grading): a change of code re-grades everyone."""
    h = hashlib.sha256()
    for package in GRADER_FILES:
        module = sys.modules.get(package) or __import__(package)
        for path in sorted(Path(module.__file__).parent.rglob("*.py")):
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def job_key(job: Job, fingerprint: str) -> str:
    h = hashlib.sha256()
    for part in (job.submission, json.dumps(job.source, sort_keys=True).encode(),
                 json.dumps(job.release, sort_keys=True).encode(), json.dumps(job.settings, sort_keys=True).encode(),
                 str(job.seed).encode(), fingerprint.encode()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------


def _run_in_sandbox(job: Job, settings: Settings, composed: compose.Composed, work: Path, module) -> tuple:
    scratch = work / "scratch"
    scratch.mkdir()
    nbformat.write(composed.notebook, scratch / "submission.ipynb")
    (scratch / "inputs").mkdir()
    module.inputs(job.seed, scratch / "inputs")
    env = {}
    if settings.epochs is not None:
        env["DL4F_TP_EPOCHS"] = str(settings.epochs)
    argv = [sys.executable, "-m", "dl4f.submission_run", "submission.ipynb", "--export", module.EXPORT_MODULE,
            "--cell-timeout", str(settings.cell_timeout)]
    if job.data_dir:
        data_dir = Path(job.data_dir)
    else:
        from dl4f import data

        data_dir = data.cache_dir()  # this worker's own cache (a Dask worker on another machine has its own)
    outcome = sandbox.run(argv, scratch, settings.limits, data_dir=data_dir, env=env, sandboxed=settings.sandboxed,
                          log=work / "sandbox.log")
    return scratch, outcome


def _cell_records(scratch: Path) -> list[dict]:
    from dl4f_grading import keras_artifacts as art

    try:
        records = art.read_json(scratch, "cells.json")
        return records if isinstance(records, list) else []
    except AssertionError:
        return []


def _describe_stop(outcome: sandbox.Outcome, records: list[dict], settings: Settings) -> tuple[str, str]:
    """(status, detail) of a run: which limit or failure stopped it, in which cell."""
    running = [r for r in records if isinstance(r, dict) and r.get("status") in ("running", "timeout", "dead")]
    where = ""
    if running:
        r = running[0]
        where = f" in cell {r.get('index')}" + (f" ({r['grade_id']})" if r.get("grade_id") else "")
    limits = settings.limits
    if outcome.status == "timeout":
        return "timeout", f"the notebook ran past the time limit of {limits.seconds:.0f} s{where}"
    if outcome.status == "memory":
        return "memory", f"the notebook used more than {limits.memory_gb:g} GB of memory{where}"
    if outcome.status == "processes":
        return "processes", f"the notebook started more than {limits.processes} processes{where}"
    cell_timeouts = [r for r in records if isinstance(r, dict) and r.get("status") == "timeout"]
    if cell_timeouts:
        return "timeout", f"a cell ran past the limit of {settings.cell_timeout} s per cell{where}"
    dead = [r for r in records if isinstance(r, dict) and r.get("status") == "dead"]
    if dead:
        return "dead", f"the kernel died{where} (os._exit, sys.exit in a thread, a crash, or the memory cap)"
    if outcome.status != "ok" or not records:
        return "dead", f"the notebook's run ended abnormally (exit {outcome.returncode}){where}"
    return "graded", ""


def _sanitize(nb: nbformat.NotebookNode) -> None:
    """Keep only plain text and PNG images of the student's outputs (no HTML or script in the feedback)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        clean = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind in ("stream", "error"):
                if kind == "error":
                    out["traceback"] = [str(t)[:2000] for t in out.get("traceback", [])][-20:]
                else:
                    out["text"] = str(out.get("text", ""))[-20000:]
                clean.append(out)
            elif kind in ("execute_result", "display_data"):
                data = {k: v for k, v in out.get("data", {}).items() if k in SAFE_OUTPUT_TYPES}
                if data:
                    out["data"] = data
                    out["metadata"] = {}
                    clean.append(out)
        cell.outputs = clean


def autograded_notebook(composed_nb, executed: nbformat.NotebookNode | None, source: nbformat.NotebookNode,
                        result: dict) -> nbformat.NotebookNode:
    """The notebook the feedback shows: the composed notebook (never the sandbox's copy of it, which the student's
    code could rewrite) with the run's outputs (plain text and images only), each graded cell with its verdict,
    each hidden test as its title and verdict only (its code never leaves the grader)."""
    nb = copy.deepcopy(composed_nb)
    if executed is not None:
        ran = [c for c in executed.cells if not c.get("metadata", {}).get("dl4f", {}).get("export")]
        if len(ran) == len(nb.cells):
            for cell, run in zip(nb.cells, ran, strict=True):
                ran_source = run.get("source")
                if isinstance(ran_source, list):
                    ran_source = "".join(ran_source)
                if cell.cell_type == "code" and run.get("cell_type") == "code" and ran_source == cell.source:
                    cell.outputs = run.get("outputs", [])
                    cell.execution_count = run.get("execution_count")
    _sanitize(nb)
    source_cells = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if "nbgrader" in c.metadata
                    and c.metadata["nbgrader"].get("grade_id")}
    position = {c.metadata.get("nbgrader", {}).get("grade_id"): k for k, c in enumerate(nb.cells)
                if c.metadata.get("nbgrader", {}).get("grade_id")}
    inserted = []
    for cell_info in result["graded"]:
        gid = cell_info["grade_id"]
        verdict = result["cells"][gid]
        text = (f"{'PASSED' if verdict['passed'] else 'FAILED'} ({verdict['points']:g}/{verdict['max']:g} points): "
                f"{verdict['message']}\n")
        output = nbformat.v4.new_output("stream", name="stdout" if verdict["passed"] else "stderr", text=text)
        if cell_info["hidden"]:
            cell = nbformat.v4.new_code_cell(cell_info["title"] + "\n# (hidden test: run by the grader)")
            cell.metadata["nbgrader"] = dict(source_cells[gid].metadata["nbgrader"])
            cell.outputs = [output]
            inserted.append((cell_info["after"], cell))
        elif gid in position:
            nb.cells[position[gid]].outputs.append(output)
    for after, cell in reversed(inserted):
        k = position.get(after, len(nb.cells) - 1)
        nb.cells.insert(k + 1, cell)
        position = {c.metadata.get("nbgrader", {}).get("grade_id"): j for j, c in enumerate(nb.cells)
                    if c.metadata.get("nbgrader", {}).get("grade_id")}
    lines = [f"# Grading: {result['score']:g} / {result['max_score']:g} points", "",
             f"Status: **{result['status']}**" + (f": {result['detail']}" if result["detail"] else ""), ""]
    lines += [f"- {note}" for note in result["notes"]]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("\n".join(lines)))
    return nb


def grade_submission(job: Job | dict) -> dict:
    """Grade one submission (see the module docstring). Returns ``{"result": ..., "autograded": nb JSON or None}``."""
    if isinstance(job, dict):
        job = Job(**job)
    settings = Settings.from_dict(job.settings)
    module = judge.tp_module(job.tp)
    source = nbformat.reads(json.dumps(job.source), as_version=4)
    release = nbformat.reads(json.dumps(job.release), as_version=4)
    graded = graded_cells(source)
    t0 = time.monotonic()
    result = {"tp": job.tp, "student": job.student, "status": "graded", "detail": "", "notes": [], "graded": graded,
              "cells": {}, "score": 0.0, "max_score": sum(c["points"] for c in graded), "seconds": {}}
    try:
        submission = compose.read_submission(job.submission)
    except compose.UnreadableSubmission as exc:
        result.update(status="unreadable", detail=str(exc))
        for c in graded:
            result["cells"][c["grade_id"]] = {"passed": False, "points": 0.0, "max": c["points"],
                                              "message": "not graded: the file could not be read"}
        nb = autograded_notebook(release, None, source, result)  # the student version, with the reason on top
        return {"result": result, "autograded": nbformat.writes(nb)}
    composed = compose.compose(release, submission)
    result["notes"] = composed.notes
    work = Path(tempfile.mkdtemp(prefix=f"dl4f-grade-{job.student}-"))
    try:
        scratch, outcome = _run_in_sandbox(job, settings, composed, work, module)
        result["seconds"]["run"] = round(outcome.seconds, 1)
        result["peak_memory_gb"] = round(outcome.peak_memory_gb, 2)
        records = _cell_records(scratch)
        result["status"], result["detail"] = _describe_stop(outcome, records, settings)
        result["cell_errors"] = [r for r in records if isinstance(r, dict) and r.get("status") not in ("ok",)][:50]
        t1 = time.monotonic()
        quick = settings.epochs is not None and settings.epochs < module.RECIPE_EPOCHS
        source_text = source_checks.notebook_code(compose.code_cells(composed))
        verdicts = judge.run_judge({"tp": job.tp, "artifacts": str(scratch / "artifacts"), "source": source_text,
                                    "seed": job.seed, "quick": quick, "cells": [c["grade_id"] for c in graded]}, work)
        result["seconds"]["judge"] = round(time.monotonic() - t1, 1)
        for c in graded:
            v = verdicts.get(c["grade_id"], {"passed": False, "message": "not checked"})
            passed = bool(v.get("passed")) is True
            result["cells"][c["grade_id"]] = {"passed": passed, "points": c["points"] if passed else 0.0,
                                              "max": c["points"], "message": str(v.get("message", ""))[:1000]}
        result["score"] = sum(v["points"] for v in result["cells"].values())
        executed = None
        try:
            from dl4f_grading import keras_artifacts as art

            executed = nbformat.read(art.regular_file(scratch, "executed.ipynb", max_mb=60), as_version=4)
        except Exception:  # noqa: BLE001  (a run that died writes no executed notebook)
            executed = None
        nb = autograded_notebook(composed.notebook, executed, source, result)
        result["seconds"]["total"] = round(time.monotonic() - t0, 1)
        return {"result": result, "autograded": nbformat.writes(nb)}
    finally:
        if os.environ.get("DL4F_GRADING_KEEP"):
            print(f"{job.student}: work folder kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
