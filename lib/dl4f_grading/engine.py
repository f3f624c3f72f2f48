"""Grading one submission: compose -> sandboxed run -> artifacts -> trusted checks -> result.

``grade_submission(job)`` takes plain data (the submission's bytes, the source and released notebooks, the
settings) and returns plain data (the result and the autograded notebook as JSON), so that it runs the same in
a local worker process and on a Dask worker. It writes nothing outside its temporary folder: the coordinator
(``dl4f_grading.grade``) alone writes the gradebook, the result files and the autograded notebooks.

The points of each graded cell come from the TP's trusted checks (``dl4f_grading.<tp>.CELLS``), run by
``judge.run_judge`` in a process that never ran student code, on the files the export left. Sandboxed runs:

1. **the notebook** (``dl4f.submission_run``): its cells run without the grader's problems (``inputs/`` does not
   exist yet); after each cell the objects the export needs are saved (``snapshots/``), so a kernel that dies in
   a late question leaves what the earlier ones defined; how each cell ended comes over a private channel;
2. **the export** (``dl4f.export_run``), once every process of the first run is dead: a fresh sandbox with the
   snapshots, the grader's inputs written only now, and an empty ``artifacts/`` the notebook never saw. Nothing
   the notebook's cells did to their process (patched modules or export helpers) exists there.

3. **the programs** (``dl4f.verify_programs``, only for a TP whose export saves JAX programs): a fresh sandbox that
   loads no snapshot runs the compiled JAX programs of the questions that ask for a JAX function on the grader's
   probes; the judge credits what they compute (``dl4f_grading.programs``).

The judge's process and the export's and the programs' sandboxes are started while the notebook runs, below its
priority (``judge.WarmJudge``, ``sandbox.start(waiting=True)``, ``dl4f.warm_start``): the judge draws the grader's
inputs into ``work/inputs`` (a folder no sandbox mounts) and keeps their secrets; all three import and warm up,
then wait; only once the notebook's processes are all dead do the sandboxes get their copy of the inputs and a
``go``. Their start-up seconds overlap the notebook's run instead of following it; nothing of the student's is in
them before ``go``.

Whatever the student's code did, only the files of these runs reach the decision. The feedback shows each verdict and
what was wrong, never the secret inputs (the judge redacts its messages: ``dl4f_grading.redact``); the secrets are
drawn per attempt (``student_seed``).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import importlib
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable
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
                        "title": _title(cell.source, "BEGIN HIDDEN TESTS" in cell.source)})
        if gid:
            previous = gid
    return out


def _title(source: str, hidden: bool = True) -> str:
    lines = []
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            break
        if line.startswith("#"):
            lines.append(line)
    return "\n".join(lines) or ("# Hidden test" if hidden else "# Visible test")


def student_seed(secret: bytes, tp: str, student: str, attempt: int | str = 0) -> int:
    """The seed of a student's probes and tasks: secret to the students, drawn per attempt.

    ``dl4f tp grade`` passes as ``attempt`` a digest of the submission's bytes (``attempt_of``): a resubmission
    meets new secrets, and grading the same file again gives the same ones (deterministic, resumable).
    """
    message = f"{tp}/{student}" if attempt in (0, "", None) else f"{tp}/{student}/{attempt}"
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


def attempt_of(submission: bytes) -> str:
    """The attempt of a submission: a digest of its bytes."""
    return hashlib.sha256(submission).hexdigest()[:16]


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


def _notify(progress: Callable[[dict], None] | None, event: dict) -> None:
    if progress is not None:
        try:
            progress(event)
        except Exception:  # noqa: BLE001  (a progress display never stops a grading)
            pass


def _data_dir(job: Job) -> Path:
    if job.data_dir:
        return Path(job.data_dir)
    from dl4f import data

    return data.cache_dir()  # this worker's own cache (a Dask worker on another machine has its own)


def _env(settings: Settings) -> dict:
    return {"DL4F_TP_EPOCHS": str(settings.epochs)} if settings.epochs is not None else {}


# The export and the programs' sandbox compile many small XLA programs once each (the student's functions on the
# grader's shapes, op by op when eager; Keras's initialisers, one per weight shape) and run little; compiling is
# most of their time. LLVM's optimisation level 0 halves it (20 random draws of new shapes: 5.7 s -> 2.5 s); XLA's
# older elemental emitters instead of its fusion emitters cut another quarter to a third (the same snapshots:
# tp-intro's export 5.2 s -> 4.0 s, tp-optimization's 2.0 s -> 1.4 s; every array within 5e-7 relative).
# The notebook's run keeps XLA's defaults (the student's trainings run there).
EXPORT_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"


def _export_env(settings: Settings) -> dict:
    return {**_env(settings), "XLA_FLAGS": EXPORT_XLA_FLAGS}


def _run_notebook(job: Job, settings: Settings, composed: compose.Composed, work: Path, names: tuple,
                  progress: Callable[[dict], None] | None) -> tuple:
    """First sandboxed run: the notebook's cells, without the grader's inputs. Returns (scratch, outcome, records,
    executed notebook or None), the records and the notebook as the runner sent them over its private channel."""
    scratch = work / "scratch"
    scratch.mkdir()
    nbformat.write(composed.notebook, scratch / "submission.ipynb")
    argv = [sys.executable, "-m", "dl4f.submission_run", "submission.ipynb", "--names", ",".join(names),
            "--cell-timeout", str(settings.cell_timeout)]
    state: dict = {"cells": [], "executed": None}

    def on_line(line: bytes) -> None:
        message = json.loads(line)
        if not isinstance(message, dict):
            return
        if isinstance(message.get("cells"), list):
            state["cells"] = [r for r in message["cells"] if isinstance(r, dict)]
            done = sum(r.get("status") not in ("not run", "running") for r in state["cells"])
            _notify(progress, {"phase": "running", "cell": done, "cells": len(state["cells"])})
        if isinstance(message.get("executed"), dict):
            state["executed"] = message["executed"]

    outcome = sandbox.run(argv, scratch, settings.limits, data_dir=_data_dir(job), env=_env(settings),
                          sandboxed=settings.sandboxed, log=work / "sandbox.log", channel=on_line)
    executed = None
    if state["executed"] is not None:
        try:
            executed = nbformat.from_dict(state["executed"])
        except Exception:  # noqa: BLE001  (a malformed notebook: the feedback shows the composed one)
            executed = None
    return scratch, outcome, state["cells"], executed


def _copy_regular_files(source: Path, target: Path, keep: Callable[[str], bool], max_mb: float) -> None:
    """Copy the files of ``source`` that ``keep`` accepts (regular files only, never links) into ``target``."""
    target.mkdir(parents=True)
    if source.is_symlink() or not source.is_dir():
        return
    for path in sorted(source.iterdir())[:200]:
        if not keep(path.name) or path.name.startswith("."):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > max_mb * 2**20:
                continue
            with open(target / path.name, "wb") as out:
                shutil.copyfileobj(f, out)


def _copy_snapshots(scratch: Path, target: Path, max_mb: int) -> None:
    """Copy the snapshot files the first run left into ``target``."""
    _copy_regular_files(scratch / "snapshots", target,
                        lambda name: name.endswith((".pkl", ".error")) or name == "config.json", max_mb)


def _export_limits(settings: Settings) -> sandbox.Limits:
    # the export calls every answer on the grader's inputs (trainings included) from a cold start: twice a cell's time
    limits = settings.limits
    return sandbox.Limits(seconds=min(limits.seconds, max(120.0, 2.0 * settings.cell_timeout)),
                          memory_gb=limits.memory_gb, processes=limits.processes, file_mb=limits.file_mb)


def _start_export(job: Job, settings: Settings, module, work: Path) -> sandbox.Running:
    """Start the export's sandbox while the notebook runs (``dl4f.warm_start``): its folder holds an empty
    ``artifacts/``, then the grader's inputs once the waiting judge has drawn them (the export's warm-up runs the
    grader's own computations at their shapes: ``dl4f.export_run``); it waits until ``_export`` has put the
    snapshots there. No student code runs in it before that."""
    folder = work / "export"
    (folder / "artifacts").mkdir(parents=True)
    argv = [sys.executable, "-m", "dl4f.export_run", "--export", module.EXPORT_MODULE, "--wait"]
    return sandbox.start(argv, folder, _export_limits(settings), data_dir=_data_dir(job), env=_export_env(settings),
                         sandboxed=settings.sandboxed, log=work / "export.log", waiting=True)


INPUTS = "inputs"  # the grader's own copy of its inputs, in the work folder: no sandbox mounts it


def _draw_inputs(module, seed: int, work: Path) -> dict:
    """Write the grader's inputs (problems, probes, tasks: drawn from the seed) into ``work/inputs``, a folder no
    sandbox mounts; return their secrets. The waiting judge does this while the notebook runs
    (``judge.WarmJudge``); the grader draws them itself only if the judge could not."""
    folder = work / INPUTS
    shutil.rmtree(folder, ignore_errors=True)  # what a judge that died while drawing left
    return module.inputs(seed, folder)


def _inputs(job: Job, module, work: Path, judging: judge.WarmJudge | None) -> None:
    """The grader's inputs in ``work/inputs``: drawn by the waiting judge while the notebook ran, or now."""
    if judging is None or not judging.inputs_ready():
        _draw_inputs(module, job.seed, work)


def _export(settings: Settings, work: Path, scratch: Path, export: sandbox.Running) -> tuple:
    """Second sandboxed run, after every process of the first is dead: the snapshots go into the waiting export's
    folder, beside the grader's inputs (``work/inputs``, copied there by the judge, or now), and it exports into
    its empty ``artifacts/``. Returns (artifacts folder, outcome)."""
    folder = work / "export"
    _copy_snapshots(scratch, folder / "snapshot", settings.limits.file_mb)
    if not (folder / INPUTS).is_dir():  # the waiting judge copies them there as soon as it has drawn them
        judge.copy_whole(work / INPUTS, folder / INPUTS)
    export.go()
    return folder / "artifacts", export.wait()


def _has_programs(module) -> bool:
    return hasattr(importlib.import_module(module.EXPORT_MODULE), "program_probes")


def _start_verify(job: Job, settings: Settings, module, work: Path) -> sandbox.Running | None:
    """Start the programs' sandbox (a TP whose export saves JAX programs) while the notebook runs; it waits."""
    from dl4f.verify_programs import VERIFIED

    if not _has_programs(module):
        return None
    folder = work / "verify"
    (folder / VERIFIED).mkdir(parents=True)
    limits = settings.limits
    limits = sandbox.Limits(seconds=min(limits.seconds, 300.0), memory_gb=limits.memory_gb, processes=limits.processes,
                            file_mb=limits.file_mb)
    argv = [sys.executable, "-m", "dl4f.verify_programs", "--export", module.EXPORT_MODULE, "--wait"]
    return sandbox.start(argv, folder, limits, data_dir=_data_dir(job), env=_export_env(settings),
                         sandboxed=settings.sandboxed, log=work / "verify.log", waiting=True)


def _verify(work: Path, artifacts: Path, verifier: sandbox.Running | None) -> tuple:
    """Third sandboxed run, for a TP whose export saves JAX programs (``program_probes``): a fresh process that loads
    no snapshot runs them on the grader's probes (``dl4f.verify_programs``). Returns (its folder of outputs, outcome)."""
    from dl4f.verify_programs import MAX_PROGRAM_MB, PROGRAMS, VERIFIED

    if verifier is None:
        return None, None
    folder = work / "verify"
    _copy_regular_files(artifacts / PROGRAMS, folder / PROGRAMS, lambda name: name.endswith(".jaxexport"),
                        MAX_PROGRAM_MB)
    if not any((folder / PROGRAMS).iterdir()):  # nothing to run (no answer, or JAX could not compile it)
        verifier.stop()
        return folder / VERIFIED, None
    shutil.copytree(work / INPUTS, folder / "inputs")  # the grader's own copy: not the one the export's code saw
    verifier.go()
    return folder / VERIFIED, verifier.wait()


def _step_seconds(artifacts: Path) -> dict[str, float]:
    """The seconds of each export step, as the export reported them (for the benchmarks only: decides nothing)."""
    from dl4f_grading import keras_artifacts as art

    try:
        table = art.read_json(artifacts, "export_seconds.json")
    except Exception:  # noqa: BLE001  (missing or malformed: nothing to show)
        return {}
    if not isinstance(table, dict):
        return {}
    return {str(k)[:60]: round(float(v), 2) for k, v in list(table.items())[:50] if isinstance(v, (int, float))}


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


def _joined(text) -> str:
    """An output's text as one string (a notebook's JSON may hold it as a list of lines)."""
    return "".join(str(t) for t in text) if isinstance(text, list) else str(text)


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
                    out["text"] = _joined(out.get("text", ""))[-20000:]
                clean.append(out)
            elif kind in ("execute_result", "display_data"):
                data = {k: _joined(v) for k, v in out.get("data", {}).items() if k in SAFE_OUTPUT_TYPES}
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
        if cell_info["hidden"] and gid in position:  # the release keeps the cell (its visible part): once
            cell = nb.cells[position[gid]]
            cell.source = (cell.source.rstrip() or cell_info["title"]) + "\n# (hidden test: run by the grader)"
            cell.outputs = [*cell.get("outputs", []), output]
        elif cell_info["hidden"]:
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


WORK_PREFIX = "dl4f-grade-"
OWNER_FILE = "owner.json"  # which process grades in a work folder: {"pid", "started"} (outside the sandbox's scratch)


def _started(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def new_work_folder(student: str) -> Path:
    """A private folder (mode 0700) for one submission's runs, with its owner process recorded."""
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{student}-"))
    (work / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "started": _started(os.getpid())}))
    return work


def sweep_work_folders(tmp: Path | None = None) -> list[Path]:
    """Remove the work folders that a grading process killed mid-submission left behind (its ``finally`` never
    ran: a worker killed by the service's supervisor, an interrupted ``dl4f tp grade``): this user's folders in the
    temporary folder whose owner process is gone. A folder whose owner runs, or without an owner record, is kept.
    Returns the folders removed. Grades are not in these folders (the coordinator records them), only the runs'
    scratch: the submission is graded again from its stored notebook."""
    removed = []
    for folder in sorted(Path(tmp or tempfile.gettempdir()).glob(f"{WORK_PREFIX}*")):
        try:
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            owner = json.loads((folder / OWNER_FILE).read_text())
            pid, started = int(owner["pid"]), owner["started"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        now = _started(pid)
        if now is not None and (started is None or abs(now - float(started)) < 1.0):
            continue  # its owner still runs
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def prepare_worker(tp: str) -> None:
    """Import what grading a submission of ``tp`` needs (its checks, its export's module), once per worker process:
    ``grade_class``'s workers start with it, so that no submission pays for it (a service worker keeps its imports
    from one job to the next). ``dl4f.data`` (the worker's data cache, ``_data_dir``) brings pandas: 0.3 s."""
    importlib.import_module(judge.tp_module(tp).EXPORT_MODULE)
    importlib.import_module("dl4f.data")


def grade_submission(job: Job | dict, progress: Callable[[dict], None] | None = None) -> dict:
    """Grade one submission (see the module docstring). Returns ``{"result": ..., "autograded": nb JSON or None}``.

    ``progress`` (optional) is called, best effort, with ``{"phase": "running", "cell": k, "cells": n}`` as the
    notebook's cells end, then ``{"phase": "exporting"}``, ``{"phase": "judging"}`` and ``{"phase": "done"}``. It is
    for display only: nothing it is told decides a grade.
    """
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
    names = tuple(importlib.import_module(module.EXPORT_MODULE).NAMES)
    work = new_work_folder(job.student)
    started: list = []  # started ahead (their imports overlap the notebook's run); stopped if grading ends early
    try:
        # the judge first: it draws the grader's inputs into work/inputs while the notebook runs
        started.append(judging := judge.WarmJudge(job.tp, job.seed, work / INPUTS, copies=(work / "export" / INPUTS,)))
        started.append(export := _start_export(job, settings, module, work))
        started.append(verifier := _start_verify(job, settings, module, work))
        scratch, outcome, records, executed = _run_notebook(job, settings, composed, work, names, progress)
        result["seconds"]["run"] = round(outcome.seconds, 1)
        result["peak_memory_gb"] = round(outcome.peak_memory_gb, 2)
        result["status"], result["detail"] = _describe_stop(outcome, records, settings)
        result["cell_errors"] = [r for r in records if r.get("status") not in ("ok",)][:50]
        _notify(progress, {"phase": "exporting"})
        t1 = time.monotonic()
        _inputs(job, module, work, judging)
        artifacts, exported = _export(settings, work, scratch, export)
        result["seconds"]["export"] = round(exported.seconds, 1)
        result["seconds"]["export_steps"] = _step_seconds(artifacts)
        if not exported.ok:
            result["notes"].append(f"the export of your answers on the grader's inputs ended early ({exported.status}): "
                                   "the answers it had not reached are not graded")
        verified, checked = _verify(work, artifacts, verifier)
        if checked is not None:
            result["seconds"]["verify"] = round(checked.seconds, 1)
        _notify(progress, {"phase": "judging"})
        t2 = time.monotonic()
        quick = settings.epochs is not None and settings.epochs < module.RECIPE_EPOCHS
        source_text = source_checks.notebook_code(compose.code_cells(composed))
        verdicts = judging.judge({"tp": job.tp, "artifacts": str(artifacts), "source": source_text,
                                    "seed": job.seed, "quick": quick, "cells": [c["grade_id"] for c in graded],
                                    "answers": composed.answers,
                                    **({"verified": str(verified)} if verified else {})}, work)
        result["seconds"]["judge"] = round(time.monotonic() - t2, 1)
        result["seconds"]["export_and_judge"] = round(time.monotonic() - t1, 1)
        for c in graded:
            v = verdicts.get(c["grade_id"], {"passed": False, "message": "not checked"})
            passed = bool(v.get("passed")) is True
            message = str(v.get("message", ""))[:1000]  # redacted by the judge (``dl4f_grading.redact``)
            result["cells"][c["grade_id"]] = {"passed": passed, "points": c["points"] if passed else 0.0,
                                              "max": c["points"], "message": message}
        result["score"] = sum(v["points"] for v in result["cells"].values())
        nb = autograded_notebook(composed.notebook, executed, source, result)
        result["seconds"]["total"] = round(time.monotonic() - t0, 1)
        _notify(progress, {"phase": "done"})
        return {"result": result, "autograded": nbformat.writes(nb)}
    finally:
        for process in started:
            if process is not None:
                process.stop()
        if os.environ.get("DL4F_GRADING_KEEP"):
            (work / OWNER_FILE).unlink(missing_ok=True)  # kept on purpose: no later sweep removes it
            print(f"{job.student}: work folder kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
