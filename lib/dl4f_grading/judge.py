"""The trusted decision, in a process of its own that never runs student code.

``python -m dl4f_grading.judge REQUEST.json`` reads the request (the TP, the artifacts folder, the student's
source as text, the seed of the grader's secrets, quick or full thresholds, the graded cells), applies the TP's
checks (``dl4f_grading.<tp>.judge``) and writes ``{grade_id: {"passed", "message"}}`` as JSON to the request's
``out`` path. Running it as a separate process keeps a malformed artifact (a model file that crashes a loader,
an enormous array) from taking the coordinator down: ``run_judge`` reports that as a failed check of every cell.

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
import subprocess
import sys
from pathlib import Path

JUDGE_SECONDS = 900
JUDGE_MEMORY_GB = 8
CACHE_ENV = "DL4F_JUDGE_CACHE"  # the judges' compilation cache; "off" compiles from scratch every time
CACHE_MAX_BYTES = 2 * 1024**3  # least recently used entries are evicted beyond this


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


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--wait":  # started ahead (``WarmJudge``): import, then read the request's path
        from dl4f import warm_start

        tp_module(argv[1])
        warm_start.warm_up(("jax",))
        line = sys.stdin.readline().strip()
        if not line:
            return 0  # the grader stopped the grading
        argv = [line]
    request = json.loads(Path(argv[0]).read_text())
    module = tp_module(request["tp"])
    extra = {"verified": request["verified"]} if request.get("verified") else {}  # the TP's JAX programs, run
    results = module.judge(Path(request["artifacts"]), request["source"], int(request["seed"]),
                           bool(request["quick"]), list(request["cells"]), answers=request.get("answers"), **extra)
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
    """A judge process started ahead, while the notebook runs: it imports the TP's checks (Keras, JAX: seconds)
    and waits for its request on standard input. It is the grader's own code only (no student code ever runs in
    it); ``judge`` hands it the request once the artifacts exist, ``stop`` ends it if the grading stops first."""

    def __init__(self, tp: str):
        from dl4f_grading import sandbox

        tp_module(tp)  # refuses an unknown TP here, as run_judge's process would
        self.proc = subprocess.Popen(_command("--wait", tp), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True)
        sandbox._lower_priority(self.proc.pid)

    def judge(self, request: dict, folder: Path) -> dict:
        """The verdicts on ``request`` (as ``run_judge``)."""
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
    raise SystemExit(main())
