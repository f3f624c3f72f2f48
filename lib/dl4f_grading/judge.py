"""The trusted decision, in a process of its own that never runs student code.

``python -m dl4f_grading.judge REQUEST.json`` reads the request (the TP, the artifacts folder, the student's
source as text, the seed of the grader's secrets, quick or full thresholds, the graded cells), applies the TP's
checks (``dl4f_grading.<tp>.judge``) and writes ``{grade_id: {"passed", "message"}}`` as JSON to the request's
``out`` path. Running it as a separate process keeps a malformed artifact (a model file that crashes a loader,
an enormous array) from taking the coordinator down: ``run_judge`` reports that as a failed check of every cell.
Every message it writes is redacted with the attempt's secrets (``dl4f_grading.redact``).

``WarmJudge`` starts it while the notebook runs, below the notebook's priority: it draws the grader's inputs of the
attempt's seed (the TP's ``inputs``) into the submission's work folder, which no sandbox mounts (and a copy into the
waiting export's folder, whose warm-up runs on them before any student code is loaded), computes what
depends on them alone (the TP's ``prepare``: the grader's own optimisations, callbacks driven on the scripts),
imports what the checks need, then waits for the request.

The judges of a machine share JAX's persistent compilation cache (``judge_cache``): the reference models and
computations the checks build are compiled once, not at every submission (a tp-transformer judge: 20 s cold,
7 s warm). The cache is the grader's alone: a folder of the grading user's, mode 0700, that no sandbox mounts;
only judges, which never run student code, write to it, and an entry is found by a digest of the program the
judge itself traced, so one submission's artifacts cannot put code there that another's judge would run. A folder
that another user owns or can write to is not used (the judges then compile from scratch).
"""

from __future__ import annotations

import importlib
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dl4f_grading.redact import redact

JUDGE_SECONDS = 900
JUDGE_MEMORY_GB = 8
CACHE_ENV = "DL4F_JUDGE_CACHE"  # the judges' compilation cache; "off" compiles from scratch every time
CACHE_MAX_BYTES = 2 * 1024**3  # least recently used entries are evicted beyond this
READY = "inputs drawn"  # a waiting judge's line to the grader: the inputs are in their folder
NOT_DRAWN = "inputs not drawn"  # or: it could not draw them (the grader then draws them itself)


def judge_cache() -> Path | None:
    """The judges' JAX compilation cache: ``$DL4F_JUDGE_CACHE``, or ``<user cache>/dl4f/judge-jax`` (created mode
    0700). ``None`` (no cache) when it is ``off``, cannot be created, or is another user's or writable by others."""
    setting = os.environ.get(CACHE_ENV, "")
    if setting.lower() == "off":
        return None
    if setting:
        folder = Path(setting)
    else:
        from platformdirs import user_cache_dir

        folder = Path(user_cache_dir("dl4f")) / "judge-jax"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    return folder


def _cache_env() -> dict:
    folder = judge_cache()
    if folder is None:
        return {"JAX_COMPILATION_CACHE_DIR": ""}
    return {"JAX_COMPILATION_CACHE_DIR": str(folder), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_COMPILATION_CACHE_MAX_SIZE": str(CACHE_MAX_BYTES)}


def tp_module(tp: str):
    """The grading module of a TP: ``tp-rnn`` -> ``dl4f_grading.tp_rnn``."""
    name = tp.replace("-", "_")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"invalid TP name {tp!r}")
    try:
        return importlib.import_module(f"dl4f_grading.{name}")
    except ModuleNotFoundError as exc:
        raise ValueError(f"no grading module for {tp!r} (expected lib/dl4f_grading/{name}.py)") from exc


def _draw(module, line: str) -> tuple[int, dict] | None:
    """Draw the grader's inputs of the seed in ``line`` (``{"seed": S, "inputs": FOLDER, "copies": [TARGET]}``)
    into ``FOLDER`` while the notebook runs (the TP's ``inputs``), and copy them to each ``TARGET``; return ``(seed,
    secrets)``, or None if they could not be drawn (the grader then draws them itself, and reports why)."""
    try:
        order = json.loads(line)
        seed = int(order["seed"])
        drawn = seed, module.inputs(seed, Path(order["inputs"]))
    except Exception:  # noqa: BLE001  (the grader draws them again: the error shows there)
        return None
    for target in order.get("copies", []):
        _copy_inputs(Path(order["inputs"]), Path(target))
    return drawn


def copy_whole(folder: Path, target: Path) -> None:
    """A copy of ``folder`` at ``target``, whole or not at all: written beside it, then renamed (a waiting export
    watches for ``target`` and reads it at once). ``OSError`` if it cannot be made; nothing is left half-written."""
    part = target.with_name(target.name + ".part")
    try:
        shutil.copytree(folder, part)
        part.rename(target)
    except OSError:
        shutil.rmtree(part, ignore_errors=True)
        raise


def _copy_inputs(inputs: Path, target: Path) -> None:
    """Best effort: where the copy is missing, the grader makes it itself before the export goes
    (``engine._export``)."""
    try:
        copy_whole(inputs, target)
    except OSError:
        pass


def _prepare(module, seed: int, secrets: dict) -> None:
    """The TP's references that depend on the secrets alone (``module.prepare``: the grader's own optimisations,
    callbacks driven on the scripts), computed while the notebook runs; cached for the checks."""
    try:
        module.prepare(seed, secrets)
    except Exception:  # noqa: BLE001  (the checks compute them again and report what fails)
        pass


def _secrets(module, seed: int, prepared: tuple[int, dict] | None) -> dict | None:
    if prepared is not None and prepared[0] == seed:
        return prepared[1]
    try:
        return module.regenerate_secrets(seed)
    except Exception:  # noqa: BLE001  (the TP's judge draws them again and reports the error on every cell)
        return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prepared = None
    if argv and argv[0] == "--wait":  # started ahead (``WarmJudge``): draw the inputs, import, read the request
        from dl4f import warm_start

        warm_start.lower_priority()  # the notebook's run has the cores first
        channel, sys.stdout = sys.stdout, sys.stderr  # standard output: the lines for the grader only
        module = tp_module(argv[1])
        line = sys.stdin.readline().strip()
        if line.startswith("{"):
            prepared = _draw(module, line)
            print(READY if prepared is not None else NOT_DRAWN, file=channel, flush=True)
            line = ""
            if prepared is not None and hasattr(module, "prepare"):
                _prepare(module, *prepared)
        warm_start.warm_up(("jax", *getattr(module, "JUDGE_IMPORTS", ())))
        line = line or sys.stdin.readline().strip()
        if not line:
            return 0  # the grader stopped the grading
        argv = [line]
    request = json.loads(Path(argv[0]).read_text())
    module = tp_module(request["tp"])
    seed = int(request["seed"])
    secrets = _secrets(module, seed, prepared)
    extra = {"verified": request["verified"]} if request.get("verified") else {}  # the TP's JAX programs, run
    results = module.judge(Path(request["artifacts"]), request["source"], seed, bool(request["quick"]),
                           list(request["cells"]), answers=request.get("answers"), secrets=secrets, **extra)
    # the feedback teaches, never leaks: no secret of the attempt in a message (dl4f_grading.redact)
    results = {gid: {**verdict, "message": redact(str(verdict.get("message", "")), secrets or {})}
               for gid, verdict in results.items()}
    Path(request["out"]).write_text(json.dumps(results, indent=1))
    return 0


def _command(*args: str) -> list[str]:
    # the memory cap by prlimit, not a preexec_fn: forking a process where JAX's threads run can deadlock
    return ["prlimit", f"--as={JUDGE_MEMORY_GB * 1024**3}", "--", sys.executable, "-m", "dl4f_grading.judge", *args]


def _env() -> dict:
    return {**os.environ, "KERAS_BACKEND": "jax", **_cache_env()}


def _failed(request: dict, reason: str) -> dict:
    return {gid: {"passed": False, "message": f"the grader could not check the artifacts: {reason}"}
            for gid in request["cells"]}


def _write_request(request: dict, folder: Path) -> tuple[Path, Path]:
    folder = Path(folder)
    req, out = folder / "judge-request.json", folder / "judge-result.json"
    req.write_text(json.dumps({**request, "out": str(out)}))
    return req, out


def _result(request: dict, returncode: int, stderr: str, out: Path) -> dict:
    if returncode == 0 and out.exists():
        return json.loads(out.read_text())
    return _failed(request, (stderr.strip().splitlines() or ["no output"])[-1][:300])


def run_judge(request: dict, folder: Path) -> dict:
    """Run the judge on ``request`` in a fresh process; on any failure, every cell fails with the reason."""
    req, out = _write_request(request, folder)
    try:
        proc = subprocess.run(_command(str(req)), capture_output=True, text=True, timeout=JUDGE_SECONDS, env=_env())
    except subprocess.TimeoutExpired:
        return _failed(request, f"the checks took longer than {JUDGE_SECONDS} s")
    return _result(request, proc.returncode, proc.stderr, out)


class WarmJudge:
    """A judge process started ahead, while the notebook runs, at a lower priority than the notebook: it draws the
    grader's inputs of ``seed`` into ``inputs`` (the TP's ``inputs``: problems, probes, scripted trainings; a
    folder no sandbox mounts) and copies them to each of ``copies`` (the waiting export's folder), keeps their
    secrets, imports what its checks need (Keras, JAX: seconds) and waits for its request on standard input. It
    is the grader's own code only (no student code ever runs in it); ``inputs_ready`` waits for the inputs,
    ``judge`` hands it the request once the artifacts exist, ``stop`` ends it if the grading stops first."""

    def __init__(self, tp: str, seed: int | None = None, inputs: Path | None = None, copies: tuple[Path, ...] = ()):
        tp_module(tp)  # refuses an unknown TP here, as run_judge's process would
        self.proc = subprocess.Popen(_command("--wait", tp), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True)
        self.drawing = seed is not None and inputs is not None
        if self.drawing:  # a line in the pipe's buffer: read once the judge has imported the TP's module
            order = {"seed": int(seed), "inputs": str(inputs), "copies": [str(c) for c in copies]}
            try:
                self.proc.stdin.write(json.dumps(order) + "\n")
                self.proc.stdin.flush()
            except OSError:  # it died already: the grader draws the inputs, ``judge`` reports how it ended
                self.drawing = False

    def inputs_ready(self, timeout: float = JUDGE_SECONDS) -> bool:
        """Wait until the judge has drawn the inputs (True), or could not (False: it failed or died)."""
        if not self.drawing:
            return False
        self.drawing = False  # asked once
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = self.proc.stdout.readline()
            if not line:
                return False  # it died
            if line.strip() == READY:
                return True
            if line.strip() == NOT_DRAWN:
                return False
        self.stop()  # still drawing after all this time: the grader draws them, a fresh judge decides
        return False

    def judge(self, request: dict, folder: Path) -> dict:
        """The verdicts on ``request`` (as ``run_judge``; by a fresh judge if this one ended before it was asked)."""
        if self.proc.poll() is not None:
            return run_judge(request, folder)
        req, out = _write_request(request, folder)
        try:
            _, stderr = self.proc.communicate(f"{req}\n", timeout=JUDGE_SECONDS)
        except subprocess.TimeoutExpired:
            self.stop()
            return _failed(request, f"the checks took longer than {JUDGE_SECONDS} s")
        except (BrokenPipeError, OSError):
            self.proc.wait()
            stderr = ""
        return _result(request, self.proc.returncode, stderr, out)

    def stop(self) -> None:
        if self.proc.returncode is not None:
            return  # judged (or stopped) already
        self.proc.kill()
        self.proc.communicate()


if __name__ == "__main__":
    from dl4f import warm_start

    warm_start.exit_now(main())  # the verdicts are written: no teardown (a second of JAX's and Keras's)
