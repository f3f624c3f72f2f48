"""Run untrusted code (a student's notebook) in a bubblewrap sandbox, with a time and a memory cap.

Inside the sandbox the student's code sees, read-only, only what it needs to run: the system's libraries
(``/usr``, ``/lib*``, ``/bin``), the few files of ``/etc`` that Python and its libraries read (``ETC``: users,
hosts, name service, time zone, certificates, the dynamic linker's cache; never ``/etc/shadow``), the Python
installation, the course's virtual environment and the student library ``dl4f`` (never ``dl4f_grading``, never
the repository: no ``solutions/``, no gradebook, no other submission), the market-data cache, and one private
scratch folder (read-write). It runs as ``nobody`` in new user, PID, network, IPC and UTS namespaces: no network,
no view of the grader's processes.

**As root** (containers, CI), a user namespace made by root maps the sandbox's user to host root, which could read
every root-owned file it sees. So a grader running as root first drops to an unprivileged host user (``GRADER_USER``:
``dl4f-grader`` if it exists, else ``nobody``; ``DL4F_GRADER_USER`` names another) with ``setpriv``, after
bind-mounting, in a private mount namespace of its own (``unshare --mount``), the folders the sandbox needs at
places that user can reach (the Python installation may live under ``/root``). Nothing is created on the host.

**Every process dies before a file is read**: the sandbox is a PID namespace whose init is bubblewrap's; when the
run ends or breaks a limit, the init is killed and ``run`` returns only once it is gone (the kernel kills every
process of a PID namespace before its init is reaped), so no detached process (double fork, ``setsid``, ``nohup``)
outlives it to rewrite what it left.

Limits, enforced from outside: wall-clock time for the whole notebook; memory, as the resident memory of
all the sandbox's processes together (a watchdog kills the sandbox past the cap) and as an address-space
limit per process (``RLIMIT_AS``: an oversized allocation raises ``MemoryError`` in the student's cell);
a number of processes; the size of any file written. The limits are set by ``prlimit`` on the command line (no
``preexec_fn``: forking a process where JAX's threads run can deadlock).

A run may also get a private channel (``channel``): a pipe whose write end is the file descriptor
``$DL4F_CHANNEL_FD`` of the first process in the sandbox (``dl4f.submission_run``, which keeps it from the
kernel it starts); each line written to it is handed to the caller as it arrives.

``bwrap`` comes from Debian's ``bubblewrap`` package (``apt-get install bubblewrap``); it needs unprivileged
user namespaces (on by default on Debian, Ubuntu and Fedora) or root. Without it, grading refuses to run
unless the instructor passes ``allow_unsandboxed=True`` (``dl4f tp grade --unsandboxed``).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

import dl4f

# Where things appear inside the sandbox.
SCRATCH = "/submission"
DATA = "/data"
GRADER_USER = "dl4f-grader"  # the unprivileged host user a root grader drops to (else nobody)
GRADER_USER_ENV = "DL4F_GRADER_USER"
# What of /etc the sandbox sees: what Python, its libraries (SSL, time zones, fonts) and the dynamic linker read.
ETC = ("passwd", "group", "hosts", "host.conf", "nsswitch.conf", "gai.conf", "protocols", "services", "localtime",
       "timezone", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl", "ca-certificates", "ca-certificates.conf",
       "alternatives", "fonts", "mime.types", "os-release", "matplotlibrc")
STAGES = ("/mnt", "/media", "/srv", "/opt")  # an existing folder to mount the root grader's staging tmpfs over


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


def grader_user() -> tuple[int, int] | None:
    """(uid, gid) of the unprivileged host user a root grader drops to; None when the grader is not root.

    ``DL4F_GRADER_USER`` names it; else ``dl4f-grader`` if that user exists, else ``nobody``. Nothing is created:
    an instructor who wants a user of the grader's own makes it once (``useradd --system --no-create-home
    --shell /usr/sbin/nologin dl4f-grader``).
    """
    if os.geteuid() != 0:
        return None
    name = os.environ.get(GRADER_USER_ENV, "").strip()
    candidates = [name] if name else [GRADER_USER, "nobody"]
    for candidate in candidates:
        try:
            entry = pwd.getpwnam(candidate)
        except KeyError:
            continue
        if entry.pw_uid == 0 or entry.pw_gid == 0:
            raise SandboxUnavailable(f"the grader user {candidate!r} is root: name an unprivileged user in "
                                     f"{GRADER_USER_ENV}")
        return entry.pw_uid, entry.pw_gid
    raise SandboxUnavailable(f"grading as root needs an unprivileged user to run submissions as: {candidates[0]!r} "
                             "does not exist (create one: useradd --system --no-create-home --shell /usr/sbin/nologin "
                             f"{GRADER_USER})")


def available() -> bool:
    """True when bubblewrap is installed and can create the namespaces the sandbox needs (as the grader user)."""
    exe = bwrap_path()
    if not exe:
        return False
    try:
        full, _ = _launcher([exe, *_system_mounts(), "--unshare-all", "--unshare-user", "--uid", "65534",
                             "--die-with-parent", "--", "/bin/true"], [], None)
        proc = subprocess.run(full, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired, SandboxUnavailable):
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
        "--unsandboxed. (As root, the grader also needs the user `nobody` or `dl4f-grader` and `unshare`, "
        "`setpriv` from util-linux.)"
    )


def _system_mounts() -> list[str]:
    args = []
    for path in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.lexists(path):
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            else:
                args += ["--ro-bind", path, path]
    for name in ETC:
        path = f"/etc/{name}"
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def _python_paths() -> list[Path]:
    """The interpreter, the virtual environment and the student library dl4f, outside the system folders."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(dl4f.__file__).resolve().parent}
    return [p for p in sorted(paths, key=lambda p: len(p.parts)) if not str(p).startswith(("/usr/", "/bin/", "/lib"))]


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


def command(argv: list[str], scratch: Path, data_dir: Path | None, env: dict | None = None,
            sources: dict[str, str] | None = None) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in the sandbox (see the module docstring).

    ``sources`` maps a host folder to the path bwrap reads it from (a root grader's staging mounts).
    """
    exe = bwrap_path()
    if not exe:
        raise SandboxUnavailable("bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    sources = sources or {}

    def src(path) -> str:
        return sources.get(str(path), str(path))

    # Order matters: a later mount hides what an earlier one put below it (a venv in /tmp under the tmpfs).
    args = [exe, *_system_mounts(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in _python_paths():
        args += ["--ro-bind", src(path), str(path)]
    if Path(sys.prefix) != Path(sys.prefix).resolve():
        args += ["--symlink", str(Path(sys.prefix).resolve()), str(sys.prefix)]
    args += ["--bind", src(Path(scratch).resolve()), SCRATCH, "--chdir", SCRATCH]
    if data_dir is not None:
        args += ["--ro-bind", src(Path(data_dir).resolve()), DATA]
    args += ["--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--hostname", "sandbox",
             "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in environment(env).items():
        args += ["--setenv", key, str(value)]
    return [*args, "--", *argv]


def _rlimits(limits: Limits | None) -> list[str]:
    if limits is None:
        return []
    mem, size = int(limits.memory_gb * 1024**3), limits.file_mb * 1024**2
    return ["prlimit", f"--as={mem}", f"--fsize={size}", "--core=0", "--"]


def _launcher(bwrap_argv_of, folders: list[Path], limits: Limits | None) -> tuple[list[str], Path | None]:
    """The full command: ``prlimit`` then bwrap; as root, first a private mount namespace and a drop of privileges.

    ``bwrap_argv_of`` is the bwrap command line, or a function of ``sources`` (host folder -> staged path) giving it.
    Returns the command and the staging folder (None when not root).
    """
    user = grader_user()
    if user is None:
        argv = bwrap_argv_of({}) if callable(bwrap_argv_of) else bwrap_argv_of
        return [*_rlimits(limits), *argv], None
    if not (shutil.which("unshare") and shutil.which("setpriv")):
        raise SandboxUnavailable("grading as root needs `unshare` and `setpriv` (util-linux)")
    stage = next((Path(p) for p in STAGES if os.path.isdir(p)), None)
    if stage is None:
        raise SandboxUnavailable(f"grading as root needs one of {', '.join(STAGES)} to stage its mounts over")
    sources, script = {}, [f"mount -t tmpfs -o mode=0755,size=1m dl4f-stage {shlex.quote(str(stage))}"]
    for k, folder in enumerate(dict.fromkeys(str(Path(f).resolve()) for f in folders)):
        staged = f"{stage}/{k}"
        sources[folder] = staged
        script += [f"mkdir {shlex.quote(staged)}", f"mount --bind {shlex.quote(folder)} {shlex.quote(staged)}"]
    script.append('exec "$@"')
    uid, gid = user
    argv = bwrap_argv_of(sources) if callable(bwrap_argv_of) else bwrap_argv_of
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-ec", " && ".join(script[:-1])
            + " && " + script[-1], "dl4f-stage", *_rlimits(limits), "setpriv", f"--reuid={uid}", f"--regid={gid}",
            "--clear-groups", "--", *argv], stage


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


def _wait_gone(procs: list[psutil.Process], seconds: float = 30.0) -> bool:
    """Kill ``procs`` (psutil checks each is still the same process) and wait until none runs, or ``seconds``."""
    deadline = time.monotonic() + seconds
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        alive = [p for p in alive if _running(p)]
        if alive:
            time.sleep(0.05)
    return not alive


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _reader(fd: int, on_line: Callable[[bytes], None]) -> threading.Thread:
    def read():
        with os.fdopen(fd, "rb") as stream:
            for line in stream:
                try:
                    on_line(line)
                except Exception:  # noqa: BLE001  (the channel is the sandbox's: a bad line is dropped)
                    pass
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


class Running:
    """A process started by ``start``, in its sandbox; ``wait`` watches it until it ends or breaks a limit.

    A process started with ``waiting=True`` reads its standard input: it prepares (imports, warms up) and waits
    there until ``go`` writes to it. The grader starts the export and the judge that way while the notebook runs,
    so that their fixed costs overlap the notebook's time; the limits' clock starts at ``go``. Until then only the
    grader's own code runs in it (the student's objects are put in its folder only before ``go``, after every
    process of the notebook's run is dead; the grader's inputs may come earlier, from the grader's judge)."""

    def __init__(self, proc: subprocess.Popen, limits: Limits, out, log: Path, reader, scratch: Path,
                 user: tuple[int, int] | None):
        self.proc, self.limits, self._out, self.log, self._reader = proc, limits, out, log, reader
        self._scratch, self._user = scratch, user
        self.t0 = time.monotonic()

    def go(self, message: bytes = b"go\n") -> None:
        """Tell a waiting process to go on (its folder now holds what it needs); the limits' clock starts now."""
        if self._user is not None:
            _give(self._scratch, *self._user)  # what the grader put in the folder since the start
        self.t0 = time.monotonic()
        try:
            self.proc.stdin.write(message)
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # it died while waiting: wait() reports how it ended

    def stop(self) -> None:
        """Kill it (a process that was never told to go, or an early exit of the grader) and wait until it is gone."""
        if self.proc.poll() is None:
            watched = _process(self.proc.pid)
            procs = _tree(watched) if watched is not None else []
            _kill_group(self.proc.pid)
            _wait_gone(procs)
        self.proc.wait()
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        if not self._out.closed:
            self._out.close()

    def wait(self) -> Outcome:
        """Watch the run until it ends or breaks a limit; when this returns, every process of the run is dead."""
        proc, limits = self.proc, self.limits
        peak, status = 0.0, None
        watched = _process(proc.pid)
        seen: dict[int, psutil.Process] = {}
        while proc.poll() is None and watched is not None:
            procs = _tree(watched)
            seen.update((p.pid, p) for p in procs[1:])
            used = _rss_gb(procs)
            peak = max(peak, used)
            if time.monotonic() - self.t0 > limits.seconds:
                status = "timeout"
            elif used > limits.memory_gb:
                status = "memory"
            elif len(procs) > limits.processes:
                status = "processes"
            if status:
                _kill_group(proc.pid)
                for p in procs:  # the namespace's init (its death kills the rest) and unsandboxed children
                    try:
                        p.kill()
                    except psutil.Error:
                        pass
                break
            try:
                proc.wait(timeout=0.2)  # the next sample in 0.2 s, or at once when the run ends
            except subprocess.TimeoutExpired:
                pass
        returncode = proc.wait()
        # every process of the run is dead before the caller reads a file: the PID namespace's init (a child of
        # bwrap: its death kills every process of the namespace) and, unsandboxed, whatever the run started
        _wait_gone(list(seen.values()))
        if self._reader is not None:
            self._reader.join(timeout=10)
        self._out.close()
        if status is None:
            status = "ok" if returncode == 0 else ("killed" if returncode < 0 else "error")
        log = self.log
        tail = log.read_bytes()[-4000:].decode("utf-8", "replace") if log.exists() else ""
        return Outcome(status, returncode, time.monotonic() - self.t0, peak, tail)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None  # gone already


def start(argv: list[str], scratch: Path, limits: Limits, *, data_dir: Path | None = None, env: dict | None = None,
          sandboxed: bool = True, log: Path | None = None, channel: Callable[[bytes], None] | None = None,
          waiting: bool = False) -> Running:
    """Start ``argv`` (inside the sandbox unless ``sandboxed`` is False); ``Running.wait`` watches it.

    Standard output and error go to ``log`` (default: ``scratch/../sandbox.log``, outside the scratch folder).
    ``channel`` receives each line the first process writes to file descriptor ``$DL4F_CHANNEL_FD`` (see the module
    docstring). ``waiting``: the process's standard input is a pipe that ``Running.go`` writes to (see there), and
    it runs at a lower priority.
    """
    scratch = Path(scratch)
    log = Path(log) if log else scratch.parent / "sandbox.log"
    chan_r = chan_w = None
    extra_env = dict(env or {})
    if channel is not None:
        chan_r, chan_w = os.pipe()
        extra_env["DL4F_CHANNEL_FD"] = str(chan_w)
    user = None
    if sandboxed:
        user = grader_user()
        if user is not None:
            _give(scratch, *user)
            if data_dir is not None:
                data_dir = _readable(Path(data_dir), scratch.parent / f"{scratch.name}-data", user[0])
        folders = [*_python_paths(), scratch] + ([data_dir] if data_dir is not None else [])

        full, _ = _launcher(lambda sources: command(argv, scratch, data_dir, extra_env, sources), folders, limits)
        run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        cwd = None
    else:
        full = [*_rlimits(limits), *argv]
        run_env = {**os.environ, **environment(extra_env), "HOME": str(scratch), "DL4F_DATA_DIR": str(data_dir or "")}
        run_env["TMPDIR"] = str(scratch)
        cwd = scratch
    pass_fds = (chan_w,) if chan_w is not None else ()
    out = open(log, "wb")  # noqa: SIM115  (closed by Running.wait or Running.stop)
    try:
        proc = subprocess.Popen(full, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.PIPE if waiting else subprocess.DEVNULL,
                                env=run_env, cwd=cwd, start_new_session=True, pass_fds=pass_fds)
    except BaseException:
        out.close()
        raise
    finally:
        for fd in pass_fds:
            os.close(fd)
    reader = _reader(chan_r, channel) if chan_r is not None else None
    return Running(proc, limits, out, log, reader, scratch, user if sandboxed else None)


def run(argv: list[str], scratch: Path, limits: Limits, *, data_dir: Path | None = None, env: dict | None = None,
        sandboxed: bool = True, log: Path | None = None, channel: Callable[[bytes], None] | None = None) -> Outcome:
    """Run ``argv`` (see ``start``) and watch it until it ends or breaks a limit. When this returns, every process
    of the run is dead."""
    return start(argv, scratch, limits, data_dir=data_dir, env=env, sandboxed=sandboxed, log=log,
                 channel=channel).wait()


def _readable(data_dir: Path, copy: Path, uid: int) -> Path:
    """``data_dir`` if the grader user can read all of it, else a readable copy of it at ``copy`` (a root grader's
    cache is often private to root: the copy, a few MB of CSV files, lives in the submission's work folder)."""
    def ok(path: Path, bits: int) -> bool:
        info = path.stat()
        return info.st_uid == uid or info.st_mode & bits == bits

    paths = [data_dir, *data_dir.rglob("*")]
    if all(ok(p, 0o005 if p.is_dir() else 0o004) for p in paths):
        return data_dir
    if not copy.exists():
        shutil.copytree(data_dir, copy, symlinks=False)
        for p in [copy, *copy.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    return copy


def _give(scratch: Path, uid: int, gid: int) -> None:
    """Hand the scratch folder (and what is in it) to the unprivileged grader user."""
    for root, dirs, files in os.walk(scratch):
        for name in [*dirs, *files]:
            try:
                os.lchown(os.path.join(root, name), uid, gid)
            except FileNotFoundError:  # renamed meanwhile (the judge's copy of the inputs): handed over at go
                pass
    os.chown(scratch, uid, gid)
