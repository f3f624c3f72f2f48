"""Run untrusted code (a student's notebook) in a bubblewrap sandbox, with a time and a memory cap.

Inside the sandbox the student's code sees, read-only, only what it needs to run: the system's libraries
(``/usr``, ``/lib*``, ``/bin``, ``/etc``), the Python installation, the course's virtual environment and the
student library ``dl4f`` (never ``dl4f_grading``, never the repository: no ``solutions/``, no gradebook, no
other submission), the market-data cache, and one private scratch folder (read-write) that holds its
notebook and receives its artifacts. It runs as ``nobody`` in new user, PID, network, IPC and UTS namespaces:
no network, no view of the grader's processes, and every process it starts dies with the sandbox.

Limits, enforced from outside: wall-clock time for the whole notebook; memory, as the resident memory of
all the sandbox's processes together (a watchdog kills the sandbox past the cap) and as an address-space
limit per process (``RLIMIT_AS``: an oversized allocation raises ``MemoryError`` in the student's cell);
a number of processes; the size of any file written.

``bwrap`` comes from Debian's ``bubblewrap`` package (``apt-get install bubblewrap``); it needs unprivileged
user namespaces (on by default on Debian, Ubuntu and Fedora) or root. Without it, grading refuses to run
unless the instructor passes ``allow_unsandboxed=True`` (``dl4f tp grade --unsandboxed``).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

import dl4f

# Where things appear inside the sandbox.
SCRATCH = "/submission"
DATA = "/data"


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use. ``seconds``: the whole run; ``memory_gb``: all its processes together."""

    seconds: float = 1800.0
    memory_gb: float = 8.0
    processes: int = 256
    file_mb: int = 1024

    def __post_init__(self):
        if self.seconds <= 0 or self.memory_gb <= 0 or self.processes < 4 or self.file_mb <= 0:
            raise ValueError(f"invalid sandbox limits {self}: time, memory and file size must be positive, "
                             "and at least 4 processes (the runner, the kernel and their helpers)")


@dataclass
class Outcome:
    """How a sandboxed run ended: ``status`` is ok, error (non-zero exit), timeout, memory or killed."""

    status: str
    returncode: int | None
    seconds: float
    peak_memory_gb: float
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def available() -> bool:
    """True when bubblewrap is installed and can create the namespaces the sandbox needs."""
    exe = bwrap_path()
    if not exe:
        return False
    try:
        proc = subprocess.run([exe, *_system_mounts(), "--unshare-all", "--unshare-user", "--uid", "65534",
                               "--die-with-parent", "--", "/bin/true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def require(allow_unsandboxed: bool = False) -> bool:
    """Return True when runs will be sandboxed; raise ``SandboxUnavailable`` unless ``allow_unsandboxed``."""
    if available():
        return True
    if allow_unsandboxed:
        return False
    raise SandboxUnavailable(
        "cannot sandbox the submissions: bubblewrap is not installed or cannot create user namespaces. "
        "Install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install bubblewrap`) and "
        "check that `bwrap --ro-bind / / --unshare-all true` works. Grading without a sandbox lets a submission "
        "read and change the gradebook, the solutions and the other submissions: only if you accept that, pass "
        "--unsandboxed."
    )


def _system_mounts() -> list[str]:
    args = []
    for path in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"):
        if os.path.lexists(path):
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            else:
                args += ["--ro-bind", path, path]
    return args


def _python_mounts() -> list[str]:
    """The interpreter, the virtual environment and the student library dl4f, read-only, at their own paths."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(dl4f.__file__).resolve().parent}
    args = []
    for path in sorted(paths, key=lambda p: len(p.parts)):
        if not str(path).startswith(("/usr/", "/bin/", "/lib")):
            args += ["--ro-bind", str(path), str(path)]
    if Path(sys.prefix) != Path(sys.prefix).resolve():
        args += ["--symlink", str(Path(sys.prefix).resolve()), str(sys.prefix)]
    return args


def environment(extra: dict | None = None) -> dict:
    """The sandbox's whole environment (nothing is inherited from the grader's)."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": SCRATCH,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "KERAS_BACKEND": "jax",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
        "JUPYTER_DATA_DIR": f"{sys.prefix}/share/jupyter",
        "IPYTHONDIR": "/tmp/ipython",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "DL4F_DATA_DIR": DATA,
    }
    env.update(extra or {})
    return env


def command(argv: list[str], scratch: Path, data_dir: Path | None, env: dict | None = None) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in the sandbox (see the module docstring)."""
    exe = bwrap_path()
    if not exe:
        raise SandboxUnavailable("bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    # Order matters: a later mount hides what an earlier one put below it (a venv in /tmp under the tmpfs).
    args = [exe, *_system_mounts(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", *_python_mounts(),
            "--bind", str(Path(scratch).resolve()), SCRATCH, "--chdir", SCRATCH]
    if data_dir is not None:
        args += ["--ro-bind", str(Path(data_dir).resolve()), DATA]
    args += ["--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--hostname", "sandbox",
             "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in environment(env).items():
        args += ["--setenv", key, str(value)]
    return [*args, "--", *argv]


def _apply_rlimits(limits: Limits):
    def preexec():
        os.setsid()
        mem = int(limits.memory_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        size = limits.file_mb * 1024**2
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return preexec


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def _rss_gb(procs) -> float:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 1024**3


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(argv: list[str], scratch: Path, limits: Limits, *, data_dir: Path | None = None, env: dict | None = None,
        sandboxed: bool = True, log: Path | None = None) -> Outcome:
    """Run ``argv`` (inside the sandbox unless ``sandboxed`` is False) and watch it until it ends or breaks a limit.

    Standard output and error go to ``log`` (default: ``scratch/../sandbox.log``, outside the scratch folder).
    """
    scratch = Path(scratch)
    log = Path(log) if log else scratch.parent / "sandbox.log"
    if sandboxed:
        full = command(argv, scratch, data_dir, env)
        run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        cwd = None
    else:
        full = list(argv)
        run_env = {**os.environ, **environment(env), "HOME": str(scratch), "DL4F_DATA_DIR": str(data_dir or "")}
        run_env["TMPDIR"] = str(scratch)
        cwd = scratch
    t0 = time.monotonic()
    peak, status = 0.0, None
    with open(log, "wb") as out:
        proc = subprocess.Popen(full, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=run_env, cwd=cwd, preexec_fn=_apply_rlimits(limits))
        watched = psutil.Process(proc.pid)
        while proc.poll() is None:
            procs = _tree(watched)
            used = _rss_gb(procs)
            peak = max(peak, used)
            if time.monotonic() - t0 > limits.seconds:
                status = "timeout"
            elif used > limits.memory_gb:
                status = "memory"
            elif len(procs) > limits.processes:
                status = "processes"
            if status:
                _kill_group(proc.pid)
                for p in procs:  # unsandboxed runs: children that left the group
                    try:
                        p.kill()
                    except psutil.Error:
                        pass
                break
            time.sleep(0.2)
        returncode = proc.wait()
    if status is None:
        status = "ok" if returncode == 0 else ("killed" if returncode < 0 else "error")
    tail = log.read_bytes()[-4000:].decode("utf-8", "replace") if log.exists() else ""
    return Outcome(status, returncode, time.monotonic() - t0, peak, tail)
