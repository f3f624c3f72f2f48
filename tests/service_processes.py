"""Fixtures of the submission service's tests (and the browser test and benchmark): a course folder, a
throw-away PostgreSQL cluster, ``dl4f serve`` and ``dl4f worker`` as real processes on 127.0.0.1 with free ports,
sign-in links, and an HTTP client that signs in and submits as a browser would.

The processes run ``python -m dl4f_service.cli`` (what ``dl4f serve``/``dl4f worker`` call).
"""

from __future__ import annotations

import atexit
import copy
import functools
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nbformat

ROOT = Path(__file__).resolve().parents[1]
TP = "tp-optimization"  # the cheapest TP to grade for real (measured: ~28 s at the test's settings, nothing trained)
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
             default=Path("/usr/lib/postgresql/15/bin"))  # Debian's postgresql (15 on bookworm)
STUDENTS = ("alice", "bob", "carol", "dave", "erin", "frank")

SERVICE_TOML = """
[service]
url = "http://127.0.0.1:{port}"
submissions_per_hour = 5
open_submissions_per_hour = 2
lease_seconds = 3
max_attempts = 2
db_timeout_seconds = 2

[grading]
time_limit = 150
cell_timeout = 30  # the honest notebook's slowest cell takes ~4 s on a quiet machine
memory_gb = 4

[tp.{tp}]
deadline = "2100-01-01T00:00:00+00:00"
counts = "best"

[tp.tp-rnn]
# offered, but its notebooks are not in the course folder: each of its jobs fails fast (tests of retries)
deadline = "2100-01-01T00:00:00+00:00"

[tp.tp-intro]
deadline = "2020-01-01T00:00:00+00:00"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict:
    out = dict(os.environ, PYTHONUNBUFFERED="1")
    out.setdefault("KERAS_BACKEND", "jax")
    out.pop("DL4F_SERVICE_DB", None)
    return out


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m dl4f_service.cli ARGS`` and return the finished process (text output)."""
    return subprocess.run([sys.executable, "-m", "dl4f_service.cli", *args], capture_output=True, text=True,
                          env=env(), timeout=timeout, cwd=ROOT)


@functools.cache
def course_template(tp: str = TP) -> Path:
    """The TP's source and its student version, released once per test session (``nbgrader generate_assignment``
    takes seconds): ``make_course`` copies it."""
    from dl4f import assignments

    folder = Path(tempfile.mkdtemp(prefix="dl4f-service-course-"))
    atexit.register(shutil.rmtree, folder, True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "solutions" / tp, folder / "solutions" / tp)
    assignments.release(tp, root=folder)
    return folder


def make_course(folder: Path, port: int, tp: str = TP, students=STUDENTS) -> Path:
    """A course folder: the TP's source, its student version (released: the gradebook knows it), service.toml and
    a roster file ``roster.csv``."""
    shutil.copytree(course_template(tp), folder)
    (folder / "service.toml").write_text(SERVICE_TOML.format(port=port, tp=tp))
    (folder / "roster.csv").write_text("id,name,email\n" + "".join(f"{s},{s.title()} Doe,{s}@example.org\n"
                                                                   for s in students))
    return folder


def import_roster(root: Path, url: str) -> None:
    """``dl4f service roster roster.csv``, in this process (migrates the database first, as the command does)."""
    from dl4f_service import db, store

    db.migrate(url)
    engine = db.make_engine(url)
    with db.sessions(engine)() as session, session.begin():
        store.import_roster(session, (root / "roster.csv").read_text())
    engine.dispose()


# ---------------------------------------------------------------- notebooks a student would upload
def student_version(root: Path, tp: str = TP) -> nbformat.NotebookNode:
    return nbformat.read(root / "exercises" / tp / f"{tp}.ipynb", as_version=4)


def honest(root: Path, tp: str = TP) -> bytes:
    """The student version with every solution cell answered as the source does."""
    sys.path.insert(0, str(ROOT / "tests"))
    import tp_course

    source = nbformat.read(root / "solutions" / tp / f"{tp}.ipynb", as_version=4)
    return nbformat.writes(tp_course.with_answers(student_version(root, tp), tp_course.solution_answers(source))).encode()


def with_first_cells(root: Path, *codes: str, tp: str = TP) -> bytes:
    """The student version with code cells ``codes`` put first (a notebook that fails fast, as they choose)."""
    nb = copy.deepcopy(student_version(root, tp))
    nb.cells[0:0] = [nbformat.v4.new_code_cell(code) for code in codes]
    return nbformat.writes(nb).encode()


# ---------------------------------------------------------------- processes
class Process:
    """A child process whose output goes to ``log`` (read with ``text()``)."""

    def __init__(self, args: list[str], log: Path):
        self.log = log
        self._file = open(log, "ab")  # noqa: SIM115  (closed in stop)
        self.popen = subprocess.Popen([sys.executable, "-m", "dl4f_service.cli", *args], stdout=self._file,
                                      stderr=subprocess.STDOUT, env=env(), cwd=ROOT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)  # its process group: the worker and its sandboxes
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._file.close()

    def kill(self) -> None:
        """SIGKILL the process itself only (as the OOM killer or a crash would)."""
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)


class Service:
    """``dl4f serve`` and ``dl4f worker``s of one course and database."""

    def __init__(self, root: Path, db: str, port: int, logs: Path, open_mode: bool = False):
        self.root, self.db, self.port, self.logs, self.open_mode = root, db, port, logs, open_mode
        self.url = f"http://127.0.0.1:{port}"
        self.server: Process | None = None
        self.workers: list[Process] = []
        logs.mkdir(parents=True, exist_ok=True)

    def start_server(self, timeout: float = 60) -> None:
        args = ["serve", "--db", self.db, "--root", str(self.root), "--port", str(self.port)]
        self.server = Process(args + (["--open"] if self.open_mode else []), self.logs / "server.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.popen.poll() is not None:
                raise RuntimeError(f"dl4f serve exited: {self.server.text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).text == "ok":
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"dl4f serve did not answer in {timeout} s: {self.server.text()[-3000:]}")

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()

    def start_worker(self, processes: int = 1) -> Process:
        """``dl4f worker --processes N`` (its log: ``worker<k>.log``)."""
        n = len(self.workers)
        worker = Process(["worker", "--db", self.db, "--root", str(self.root), "--processes", str(processes)],
                         self.logs / f"worker{n}.log")
        self.workers.append(worker)
        return worker

    def worker_log(self) -> str:
        """The logs of every worker started so far, together."""
        return "".join(w.text() for w in self.workers)

    def wait_ready(self, loops: int, timeout: float = 90) -> None:
        """Wait until ``loops`` grading loops (over all workers started so far) said they are ready."""
        deadline = time.monotonic() + timeout
        while self.worker_log().count("ready (") < loops:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{loops} worker loops did not start in {timeout} s: {self.worker_log()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.stop_server()

    def client(self) -> Client:
        return Client(self.url)

    def link(self, student: str, seconds: float = 3600) -> str:
        from dl4f_service import auth

        return "/signin/" + auth.make_token(auth.service_secret(self.root), student, seconds)

    def instructor_link(self, seconds: float = 3600) -> str:
        from dl4f_service import auth

        return "/instructor/signin/" + auth.make_token(auth.service_secret(self.root), auth.INSTRUCTOR, seconds)

    def engine(self):
        from dl4f_service import db

        return db.make_engine(self.db)


class Client(httpx.Client):
    """A browser-like client: keeps the session cookie, never follows redirects by itself."""

    def __init__(self, url: str):
        super().__init__(base_url=url, follow_redirects=False, timeout=60)

    def csrf(self, path: str) -> str:
        page = self.get(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {path}: {page.status_code} {page.text[:500]}"
        return match.group(1)

    def submit(self, tp: str, content: bytes, filename: str = "notebook.ipynb", csrf: str | None = None) -> httpx.Response:
        token = self.csrf(f"/tp/{tp}") if csrf is None else csrf
        return self.post(f"/tp/{tp}/submit", data={"csrf_token": token},
                         files={"notebook": (filename, content, "application/x-ipynb+json")})

    def status(self, sid: str) -> dict:
        return self.get(f"/submissions/{sid}/status.json").json()

    def wait_done(self, sid: str, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(sid)
            if status["done"]:
                return status
            time.sleep(0.5)
        raise AssertionError(f"submission {sid} not done after {timeout} s: {status}")


def submission_id(response: httpx.Response) -> str:
    assert response.status_code == 303, (response.status_code, response.text[:1000])
    return response.headers["location"].rsplit("/", 1)[1]


# ---------------------------------------------------------------- PostgreSQL
def postgres_missing() -> str | None:
    """Why a throw-away PostgreSQL cluster cannot start here (None: it can)."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL's binaries are not in {PG_BIN} (apt-get install postgresql)"
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            return "running as root, and setpriv (util-linux) is missing to run PostgreSQL as nobody"
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            return "running as root, and there is no user nobody to run PostgreSQL"
    return None


class Postgres:
    """A throw-away cluster in a temporary folder, on 127.0.0.1 and a free port, trust authentication.
    As root, it runs as ``nobody`` (initdb and postgres refuse root)."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="dl4f-pg-"))
        self.port = free_port()
        self.data = self.folder / "data"
        self.url = f"postgresql+psycopg://dl4f@127.0.0.1:{self.port}/postgres"
        self._names = itertools.count()
        if os.geteuid() == 0:
            user = pwd.getpwnam("nobody")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._as_user([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "dl4f", "--auth=trust", "-E", "UTF8",
                       "--no-sync", "--no-instructions"])
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.folder}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 32MB\n")
        self.start()

    def _as_user(self, argv: list[str]) -> None:
        if os.geteuid() == 0:
            argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=120, cwd=self.folder)

    def start(self) -> None:
        self._as_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "start"])

    def stop(self) -> None:
        self._as_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def new_database(self) -> str:
        """A new, empty database of this cluster: its URL."""
        from sqlalchemy import create_engine

        name = f"db{next(self._names)}"
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        admin.dispose()
        return self.url.rsplit("/", 1)[0] + "/" + name

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


@functools.cache
def shared_postgres() -> Postgres:
    """One throw-away cluster for the whole test session (initdb takes seconds): each test makes its own database
    (``new_database``); removed at exit."""
    cluster = Postgres()
    atexit.register(cluster.remove)
    return cluster
