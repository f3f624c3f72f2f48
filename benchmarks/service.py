"""The submission service under load: N students submit at once, graded by 1, then 2 worker processes.

For each number of workers W (``--workers 1 2``), in a fresh course folder and a fresh database:

1. **``dl4f tp grade``** (``dl4f_grading.grade.grade_class``, what the command runs) grades N copies of the
   submission with W workers: its wall time and submissions per hour, the baseline.
2. **The service**: ``dl4f serve`` and ``dl4f worker --processes W`` as real processes on 127.0.0.1; N students, each
   signed in from their link (``dl4f service links``), upload the same notebook at the same moment (a barrier), then
   poll ``status.json`` every ``--poll`` seconds as the status page's script does, and open the result page once it
   says done. Measured per submission: **time to feedback** (upload started -> result page received), and the
   service's own **overhead**, beside the engine's grading time of the same submission (``seconds.total`` of its
   result, the time ``dl4f tp grade`` spends on it too):
   - *claim*: upload stored -> job claimed, less the time its worker was still busy with the previous job (a
     watcher thread reads the database every 50 ms: the first time the submission shows as running);
   - *worker*: claimed -> result written (``graded_at``), less the engine's grading time: reading the submission,
     heartbeats, writing the result, and what the engine does outside its own timer (importing the TP's checks in a
     fresh process, parsing the notebooks, removing its work folder), which ``dl4f tp grade``'s workers pay too:
     compare "a worker's time per submission" (claimed -> written) with ``dl4f tp grade``'s wall time x W / N;
   - *page*: result written -> result page received (``poll wait``: until the client's next status poll, at most
     ``--poll`` s; ``page``: fetching the page).
   Submissions per hour = N / (last result page - first upload).

Goals (issue 17): overhead under 1 s per submission (claim + worker + page fetch; the poll wait is the status
page's refresh period); throughput within 10 % of ``dl4f tp grade`` with the same number of workers. The first job of
each worker process pays its imports (a ``dl4f tp grade`` pool process too): with N small they dominate; use N >> W.

    python benchmarks/service.py [--n 40] [--workers 1 2] [--tp tp-intro] [--submission full|dead]
                                 [--epochs 1] [--db sqlite|pg|postgresql://...] [--out results.csv]

The submission is the reference solution written into the student version (the ``full`` submission of
``tests/submissions_<tp>.py``), or ``dead`` (the student version whose first cell kills its kernel: a fast grading,
to try the benchmark out). Grading uses the quick settings (``--epochs 1``, as the tests do). Each configuration takes
about N x (grading time) / W twice (service and baseline): N=40 on 2 cores is an hour or more; try ``--n 2 --workers
1 --submission dead`` first. Prints a Markdown table (for the README) and writes the per-submission rows to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import inspect
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from dl4f import assignments  # noqa: E402
from dl4f_grading import engine, grade, sandbox  # noqa: E402

SERVICE = [sys.executable, "-m", "dl4f_service.cli"]  # `dl4f serve`, `dl4f worker`, `dl4f service ...`
CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


# --------------------------------------------------------------------------- the course and the submission


def make_course(folder: Path, tp: str, kind: str) -> bytes:
    """A course folder (the TP's source, released) and the bytes of the submission to grade."""
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "solutions" / tp, folder / "solutions" / tp)
    assignments.release(tp, root=folder)
    student = nbformat.read(folder / "exercises" / tp / f"{tp}.ipynb", as_version=4)
    if kind == "dead":
        student.cells.insert(0, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
        return nbformat.writes(student).encode()
    source = nbformat.read(folder / "solutions" / tp / f"{tp}.ipynb", as_version=4)
    corpus = importlib.import_module("submissions_" + tp.replace("-", "_"))
    extra = (folder,) if len(inspect.signature(corpus.build).parameters) == 3 else ()  # tp-rnn's takes the course
    return corpus.build(student, source, *extra)["full"]


def settings_of(args) -> engine.Settings:
    return engine.Settings(epochs=args.epochs, limits=sandbox.Limits(seconds=args.time_limit, memory_gb=args.memory_gb),
                           cell_timeout=args.cell_timeout)


def students(n: int) -> list[str]:
    return [f"bench{k:03d}" for k in range(n)]


# --------------------------------------------------------------------------- baseline: dl4f tp grade


def baseline(course: Path, tp: str, raw: bytes, n: int, workers: int, settings: engine.Settings) -> dict:
    """``dl4f tp grade`` (``grade_class``) on N copies with ``workers`` workers: wall time and engine seconds."""
    for student in students(n):
        folder = course / "submitted" / student / tp
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{tp}.ipynb").write_bytes(raw)
    t0 = time.perf_counter()
    results = grade.grade_class(course, tp, settings=settings, workers=workers, students=students(n), force=True,
                                progress=lambda s: None)
    wall = time.perf_counter() - t0
    return {"wall": wall, "per_hour": 3600 * n / wall, "grading": [r["seconds"].get("total", 0.0) for r in results],
            "scores": sorted({r["score"] for r in results}), "statuses": sorted({r["status"] for r in results})}


# --------------------------------------------------------------------------- the service's processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*argv: str, env: dict, timeout: float = 120) -> str:
    done = subprocess.run([*SERVICE, *argv], capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr[-1500:]}")
    return done.stdout


@contextlib.contextmanager
def service(course: Path, db_url: str, workers: int, env: dict, log: Path):
    """``dl4f serve`` and ``dl4f worker --processes W`` running on the course; yields the base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    common = ["--db", db_url, "--root", str(course)]
    procs = []
    with open(log, "a") as out:
        try:
            procs.append(subprocess.Popen([*SERVICE, "serve", *common, "--host", "127.0.0.1", "--port", str(port)],
                                          stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True))
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                if procs[0].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dl4f serve did not start: see {log}")
                time.sleep(0.2)
            ready = log.read_text().count(" ready (")
            procs.append(subprocess.Popen([*SERVICE, "worker", *common, "--processes", str(workers)], stdout=out,
                                          stderr=subprocess.STDOUT, env=env, start_new_session=True))
            deadline = time.monotonic() + 180
            while log.read_text().count(" ready (") < ready + workers:  # each process logs "ready (host:pid, ...)"
                if procs[1].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dl4f worker did not start: see {log}")
                time.sleep(0.2)
            yield base
        finally:
            for proc in reversed(procs):  # each in its own process group: the worker's children go with it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


class Watcher(threading.Thread):
    """Reads the submissions' states from the database every ``period`` s: when each was first seen running."""

    def __init__(self, db_url: str, period: float = 0.05):
        super().__init__(daemon=True)
        from sqlalchemy import create_engine

        from dl4f_service import db

        self.engine = create_engine(db.url_for(db_url, Path(".")))
        self.period, self.running_seen, self.stop = period, {}, threading.Event()

    def run(self):
        from sqlalchemy import text

        while not self.stop.is_set():
            with contextlib.suppress(Exception), self.engine.connect() as connection:
                now = time.time()
                for sid, state in connection.execute(text("SELECT id, state FROM submissions")):
                    if state != "queued":
                        self.running_seen.setdefault(sid, (now, state))
            self.stop.wait(self.period)


def student_run(base: str, link: str, tp: str, raw: bytes, barrier: threading.Barrier, poll: float, row: dict) -> None:
    """One student: sign in from the link, open the TP's page, upload with the others, poll, read the result."""
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            signed_in = client.get("/signin/" + link.split("/signin/", 1)[1])  # the link, on this server
            assert signed_in.status_code == 303, f"sign-in answered {signed_in.status_code}"
            token = CSRF.search(client.get(f"/tp/{tp}").text).group(1)
            barrier.wait()
            row["t_upload"] = time.time()
            answer = client.post(f"/tp/{tp}/submit", data={"csrf_token": token},
                                 files={"notebook": (f"{tp}.ipynb", raw, "application/x-ipynb+json")})
            row["t_stored"] = time.time()
            if answer.status_code != 303:
                row["error"] = f"upload answered {answer.status_code}: {answer.text[:200]}"
                return
            page = answer.headers["location"]
            row["id"] = page.rstrip("/").rsplit("/", 1)[-1]
            while True:
                time.sleep(poll)
                status = client.get(f"{page}/status.json").json()
                if status["done"]:
                    row["t_done_seen"], row["phase"] = time.time(), status["phase"]
                    break
            shown = client.get(page)
            row["t_page"] = time.time()
            score = re.search(r'id="score"[^>]*>(.*?)<', shown.text, flags=re.DOTALL)
            row["score_shown"] = score.group(1).strip() if score else ""
    except Exception as exc:  # noqa: BLE001  (one student's failure is reported in the table, not fatal)
        row["error"] = f"{type(exc).__name__}: {exc}"


def service_run(course: Path, tp: str, raw: bytes, n: int, workers: int, args, log: Path) -> list[dict]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    g = settings_of(args)
    (course / "service.toml").write_text(
        f"[service]\nsubmissions_per_hour = {n + 5}\n\n[grading]\nepochs = {args.epochs}\ntime_limit = {g.limits.seconds}\n"
        f"cell_timeout = {g.cell_timeout}\nmemory_gb = {g.limits.memory_gb}\n")
    db_url = args.db if args.db != "sqlite" else f"sqlite:///{course / 'service.db'}"
    roster = course / "roster.csv"
    roster.write_text("id,name,email\n" + "".join(f"{s},Student {s},{s}@example.org\n" for s in students(n)))
    cli("service", "migrate", "--db", db_url, env=env)
    cli("service", "roster", str(roster), "--db", db_url, "--root", str(course), env=env)
    links = {r["id"]: r["link"] for r in csv.DictReader(
        cli("service", "links", "--db", db_url, "--root", str(course), env=env).splitlines())}
    rows = [{"student": s, "workers": workers} for s in students(n)]
    with service(course, db_url, workers, env, log) as base:
        watcher = Watcher(db_url)
        watcher.start()
        barrier = threading.Barrier(n)
        threads = [threading.Thread(target=student_run, args=(base, links[r["student"]], tp, raw, barrier, args.poll, r))
                   for r in rows]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        watcher.stop.set()
        watcher.join()
    from sqlalchemy import create_engine, text

    from dl4f_service import db

    with create_engine(db.url_for(db_url, course)).connect() as connection:
        stored = {sid: (created, graded_at, result) for sid, created, graded_at, result in connection.execute(
            text("SELECT id, created_at, graded_at, result FROM submissions"))}
        worker_of = dict(connection.execute(text("SELECT submission_id, worker FROM jobs")).all())
    for r in rows:
        if "id" not in r or r["id"] not in stored:
            continue
        created, graded_at, result = stored[r["id"]]
        result = json.loads(result) if result else {}
        r.update(created=created, graded_at=graded_at, worker=worker_of.get(r["id"], ""),
                 grading=result.get("seconds", {}).get("total"), status=result.get("status", ""))
        seen = watcher.running_seen.get(r["id"])
        r["claimed"] = seen[0] if seen and seen[1] == "running" else None  # None: graded between two looks
    # claim overhead: claimed - (stored, or the end of the same worker's previous job if later)
    by_worker: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("claimed") is not None and r.get("graded_at") is not None:
            by_worker.setdefault(r["worker"], []).append(r)
    for jobs in by_worker.values():
        jobs.sort(key=lambda r: r["claimed"])
        previous_end = 0.0
        for r in jobs:
            r["claim_overhead"] = r["claimed"] - max(r["created"], previous_end)
            r["worker_overhead"] = (r["graded_at"] - r["claimed"]) - (r["grading"] or 0.0)
            previous_end = r["graded_at"]
    for r in rows:
        if r.get("t_page") is not None and r.get("graded_at") is not None:
            r["poll_wait"] = r["t_done_seen"] - r["graded_at"]
            r["page"] = r["t_page"] - r["t_done_seen"]
            r["feedback"] = r["t_page"] - r["t_upload"]
            r["upload"] = r["t_stored"] - r["t_upload"]
    return rows


# --------------------------------------------------------------------------- the table


def quantile(values: list[float], q: float) -> float:
    values = sorted(v for v in values if v is not None)
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def summary(rows: list[dict], base: dict | None, n: int, workers: int) -> dict:
    done = [r for r in rows if r.get("t_page") is not None]
    errors = [r["error"] for r in rows if r.get("error")]
    wall = max(r["t_page"] for r in done) - min(r["t_upload"] for r in done) if done else float("nan")
    overhead = [r["claim_overhead"] + r["worker_overhead"] + r["page"] for r in done if "claim_overhead" in r]
    out = {
        "workers": workers, "n": n, "graded": len(done), "errors": len(errors),
        "feedback_p50": quantile([r["feedback"] for r in done], 0.5),
        "feedback_p95": quantile([r["feedback"] for r in done], 0.95),
        "per_hour": 3600 * len(done) / wall if done else float("nan"),
        "grading_p50": quantile([r["grading"] for r in done], 0.5),
        "upload_p50": quantile([r["upload"] for r in done], 0.5),
        "claim_p50": quantile([r.get("claim_overhead") for r in done], 0.5),
        "claim_max": max((r["claim_overhead"] for r in done if "claim_overhead" in r), default=float("nan")),
        "worker_p50": quantile([r.get("worker_overhead") for r in done], 0.5),
        "poll_wait_p50": quantile([r["poll_wait"] for r in done], 0.5),
        "page_p50": quantile([r["page"] for r in done], 0.5),
        "overhead_p50": quantile(overhead, 0.5), "overhead_p95": quantile(overhead, 0.95),
        "held_p50": quantile([r["graded_at"] - r["claimed"] for r in done if r.get("claimed")], 0.5),
        "baseline_per_submission": base["wall"] * workers / n if base else float("nan"),
        "baseline_per_hour": base["per_hour"] if base else float("nan"),
        "baseline_grading_p50": quantile(base["grading"], 0.5) if base else float("nan"),
        "statuses": sorted({r.get("status", "") for r in done}), "first_error": errors[0] if errors else "",
    }
    out["throughput_ratio"] = out["per_hour"] / out["baseline_per_hour"] if base else float("nan")
    return out


def markdown(summaries: list[dict]) -> str:
    lines = ["| workers | N | time to feedback p50 / p95 (s) | submissions/hour: service / `dl4f tp grade` (ratio) | "
             "grading p50 (s) | a worker's time per submission: service p50 / `dl4f tp grade` mean (s) | "
             "service overhead p50 / p95 (s) = claim + worker + page | status poll wait p50 (s) |", "|" + "---|" * 8]
    for s in summaries:
        lines.append(f"| {s['workers']} | {s['n']} | {s['feedback_p50']:.1f} / {s['feedback_p95']:.1f} | "
                     f"{s['per_hour']:.1f} / {s['baseline_per_hour']:.1f} ({s['throughput_ratio']:.2f}) | "
                     f"{s['grading_p50']:.1f} | {s['held_p50']:.1f} / {s['baseline_per_submission']:.1f} | "
                     f"{s['overhead_p50']:.2f} / {s['overhead_p95']:.2f} = {s['claim_p50']:.2f} + {s['worker_p50']:.2f} + "
                     f"{s['page_p50']:.2f} | {s['poll_wait_p50']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="students submitting at once (default 40)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker processes (default: 1 2)")
    parser.add_argument("--tp", default="tp-intro")
    parser.add_argument("--submission", choices=("full", "dead"), default="full")
    parser.add_argument("--epochs", type=int, default=1, help="the quick settings (default 1)")
    parser.add_argument("--time-limit", type=float, default=300)
    parser.add_argument("--cell-timeout", type=int, default=120)
    parser.add_argument("--memory-gb", type=float, default=6)
    parser.add_argument("--poll", type=float, default=1.0, help="status polling period of each client (the page's)")
    parser.add_argument("--db", default="sqlite", help="sqlite (a file in the course); pg (a throw-away PostgreSQL "
                        "cluster, as the tests start one); or a PostgreSQL URL (emptied first: a throw-away database)")
    parser.add_argument("--no-baseline", action="store_true", help="skip `dl4f tp grade` (the service alone)")
    parser.add_argument("--out", default=None, help="CSV of the per-submission measurements")
    parser.add_argument("--keep", action="store_true", help="keep the course folders (logs, databases)")
    args = parser.parse_args(argv)
    sandbox.require()
    if args.db == "pg":
        import service_processes

        cluster = service_processes.Postgres()
        try:
            return main([*(argv if argv is not None else sys.argv[1:]), "--db", cluster.url])  # the last --db wins
        finally:
            cluster.remove()
    summaries, all_rows = [], []
    for workers in args.workers:
        folder = Path(tempfile.mkdtemp(prefix=f"dl4f-bench-service-w{workers}-"))
        try:
            raw = make_course(folder, args.tp, args.submission)
            base = None
            if not args.no_baseline:
                base = baseline(folder, args.tp, raw, args.n, workers, settings_of(args))
                print(f"dl4f tp grade, {workers} worker(s): {args.n} in {base['wall']:.0f} s = {base['per_hour']:.1f}/hour "
                      f"(scores {base['scores']}, {base['statuses']})", flush=True)
                shutil.rmtree(folder / "submitted")
            if args.db != "sqlite":
                reset_postgres(args.db)
            rows = service_run(folder, args.tp, raw, args.n, workers, args, folder / "service.log")
            s = summary(rows, base, args.n, workers)
            print(f"service, {workers} worker(s): {json.dumps(s)}", flush=True)
            summaries.append(s)
            all_rows += rows
        finally:
            if args.keep:
                print(f"kept {folder}")
            else:
                shutil.rmtree(folder, ignore_errors=True)
    print()
    print(markdown(summaries))
    if args.out:
        fields = sorted({k for r in all_rows for k in r})
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(all_rows)
        print(f"wrote {args.out}")
    return 1 if any(s["errors"] or s["graded"] < s["n"] for s in summaries) else 0


def reset_postgres(url: str) -> None:
    """Drop every table of a throw-away PostgreSQL database (each configuration starts from an empty queue)."""
    from sqlalchemy import create_engine, text

    from dl4f_service import db

    with create_engine(db.url_for(url, Path("."))).begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


if __name__ == "__main__":
    sys.exit(main())
