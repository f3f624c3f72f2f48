"""The submission service end to end: ``dl4f serve`` and two ``dl4f worker``s as real processes on 127.0.0.1, on
SQLite and on a throw-away PostgreSQL cluster; every "bad input and attack" of issue 17 with its exact outcome.

One honest submission per database is graded for real (tp-optimization, the cheapest TP: ~30 s); the others fail
fast by design: a kernel killed in its second cell, a loop stopped by the 30 s cell limit, and jobs of a TP whose
notebooks the workers lack (the grader fails at once: retries, then "failed" with the reason). The tests of a
module share one service and run in order: each states what it relies on.
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import nbformat
import pytest
from service_processes import (
    TP,
    Service,
    cli,
    free_port,
    honest,
    import_roster,
    make_course,
    postgres_missing,
    shared_postgres,
    submission_id,
    with_first_cells,
)
from sqlalchemy import func, select

from dl4f_grading import sandbox
from dl4f_service import db
from dl4f_service.models import Job, Submission

pytestmark = pytest.mark.skipif(not sandbox.available(), reason="bubblewrap is not installed (apt-get install bubblewrap)")
SCRIPT = "<script>alert('pwned')</script><b>bold</b>"
EVIL_NAME = "<img src=x onerror=alert(1)>.ipynb"
# a notebook that never ends; it sleeps in its loop, so that waiting for the cell limit costs the test machine no CPU
# (the limit stops a busy loop the same way: the kernel is interrupted, then killed)
LOOP = "import time\nwhile True:\n    time.sleep(0.05)"
MISSING_TP = "tp-rnn"  # offered by service.toml, but its notebooks are not in the course: its jobs fail fast


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, tmp_path_factory):
    cluster = None
    folder = tmp_path_factory.mktemp(f"service-{request.param}")
    port = free_port()
    root = make_course(folder / "course", port)
    if request.param == "postgresql":
        reason = postgres_missing()
        if reason:
            pytest.skip(reason)
        cluster = shared_postgres()
        url = cluster.new_database()
    else:
        url = f"sqlite:///{root}/service.db"
    import_roster(root, url)  # (the CLI's roster command is tested in test_service_units)
    svc = Service(root, url, port, folder / "logs")
    svc.pg, svc.ids, svc.killed = cluster, {}, None
    svc.start_server()
    yield svc
    svc.stop()


def signed_in(service: Service, student: str) -> httpx.Client:
    client = service.client()
    response = client.get(service.link(student))
    assert response.status_code == 303 and response.headers["location"] == "/"
    return client


def count_submissions(service: Service, student: str) -> int:
    engine = service.engine()
    with engine.connect() as connection:
        n = connection.execute(select(func.count()).select_from(Submission).where(Submission.student_id == student))
        value = n.scalar()
    engine.dispose()
    return value


def jobs_of(service: Service, sid: str) -> list[Job]:
    engine = service.engine()
    with db.sessions(engine)() as session:
        jobs = list(session.scalars(select(Job).where(Job.submission_id == sid).order_by(Job.id)))
    engine.dispose()
    return jobs


def test_sign_in_links_forged_expired_or_foreign_are_refused(service):
    client = service.client()
    assert client.get("/healthz").text == "ok"
    assert client.get("/").status_code == 401 and "personal link" in client.get("/").text
    forged = service.link("alice")[:-4] + "AAAA"
    for path, reason in ((forged, "this sign-in link is not valid"), ("/signin/nonsense", "this sign-in link is not valid"),
                         (service.link("alice", seconds=-1), "this sign-in link has expired"),
                         (service.link("mallory"), "not on the roster")):
        response = client.get(path)
        assert response.status_code == 403 and reason in response.text
        assert "ask your instructor for a new link" in response.text
        assert "set-cookie" not in response.headers
    assert client.get(service.instructor_link()[:-4] + "AAAA").status_code == 403
    student_token = service.link("alice").rsplit("/", 1)[1]
    assert client.get("/instructor/signin/" + student_token).status_code == 403  # a student's link is not the instructor's
    alice = signed_in(service, "alice")
    home = alice.get("/")
    assert home.status_code == 200 and "Alice Doe" in home.text and f'href="/tp/{TP}"' in home.text
    assert alice.get("/instructor").status_code == 401


def test_queued_jobs_survive_a_server_restart(service):
    """carol's submission (a notebook that kills its kernel, with HTML in its outputs) is queued before any worker
    runs; the server restarts; the job is still there and the workers started afterwards grade it."""
    carol = signed_in(service, "carol")
    nb = nbformat.reads(with_first_cells(service.root, f"print({SCRIPT!r})", "import os\nos._exit(1)").decode(), 4)
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<script>alert('stored')</script>"})]
    sid = submission_id(carol.submit(TP, nbformat.writes(nb).encode(), EVIL_NAME))
    service.ids["carol"] = sid
    assert carol.status(sid) == {"state": "queued", "phase": "queued, position 1", "cell": None, "cells": None,
                                 "position": 1, "done": False}
    service.stop_server()
    with pytest.raises(httpx.ConnectError):
        carol.get("/healthz")
    service.start_server()
    page = carol.get(f"/submissions/{sid}")  # the same session cookie, the same submission, still queued
    assert page.status_code == 200 and re.search(r'id="status"[^>]*>queued, position 1<', page.text)
    if service.pg is None:  # on SQLite, one `dl4f worker --processes 2` (the default: one loop per core)...
        service.start_worker(processes=2)
    else:  # ... on PostgreSQL, two `dl4f worker` commands, as on two machines
        service.start_worker()
        service.start_worker()


def test_a_worker_killed_mid_grading_loses_its_lease_and_the_other_regrades(service):
    service.wait_ready(2)
    alice = signed_in(service, "alice")
    sid = submission_id(alice.submit(TP, honest(service.root), "tp-optimization.ipynb"))
    service.ids["alice"] = sid
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until a worker runs its cells
        status = alice.status(sid)
        if status["state"] == "running" and status["cells"]:  # its notebook has started
            break
        time.sleep(0.2)
    assert re.fullmatch(r"running cell \d+ of \d+", status["phase"]), status
    (job,) = jobs_of(service, sid)
    os.kill(int(job.worker.rsplit(":", 1)[1]), signal.SIGKILL)  # the grading loop's process (host:pid)
    service.killed = job.worker
    service.start_worker()  # a replacement (the test's next jobs need two workers)
    dave = signed_in(service, "dave")
    service.ids["dave"] = submission_id(dave.submit(TP, with_first_cells(service.root, LOOP)))
    assert alice.wait_done(sid)["state"] == "graded"
    (job,) = jobs_of(service, sid)
    assert job.state == "done" and job.attempts == 2 and job.worker != service.killed
    assert f"claimed by {service.killed}" in job.log and f"graded by {job.worker}" in job.log
    page = alice.get(f"/submissions/{sid}").text
    assert re.search(r'id="score">30 / 30<', page) and re.search(r'id="grading-status">graded<', page)
    rows = re.findall(r'<tr class="(passed|failed)">', page)
    assert len(rows) >= 10 and set(rows) == {"passed"}
    source = (service.root / "solutions" / TP / f"{TP}.ipynb").read_text()
    hidden = [line.strip() for cell in nbformat.reads(source, 4).cells if "BEGIN HIDDEN TESTS" in cell.source
              for line in cell.source.split("BEGIN HIDDEN TESTS", 1)[1].splitlines() if len(line.strip()) > 25]
    assert hidden and not [line for line in hidden if line in page or line.replace("'", "&#39;") in page]
    assert "BEGIN HIDDEN TESTS" not in page and "course_secret" not in page


def test_a_notebook_that_kills_its_kernel_is_reported_and_its_html_escaped(service):
    carol = signed_in(service, "carol")
    sid = service.ids["carol"]
    assert carol.wait_done(sid)["state"] == "graded"
    page = carol.get(f"/submissions/{sid}").text
    assert re.search(r'id="score">0 / 30<', page)
    assert 'id="grading-status">dead (the kernel died in cell 1 (os._exit' in page
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;.ipynb" in page
    tp_page = carol.get(f"/tp/{TP}").text
    for text in (page, tp_page):
        assert "<script>alert" not in text and "<img src=x" not in text and "<b>bold" not in text
        assert "alert('stored')" not in text and "alert(&#39;stored&#39;)" not in text  # HTML outputs never shown


def test_a_looping_notebook_is_stopped_by_the_cell_limit(service):
    dave = signed_in(service, "dave")
    sid = service.ids["dave"]
    assert dave.wait_done(sid)["state"] == "graded"
    page = dave.get(f"/submissions/{sid}").text
    assert re.search(r'id="score">0 / 30<', page)
    assert 'id="grading-status">timeout (a cell ran past the limit of 30 s per cell in cell 0' in page


def test_another_students_submission_is_not_found(service):
    bob = signed_in(service, "bob")
    alice_id = service.ids["alice"]
    missing = bob.get("/submissions/" + "A" * 22)
    for path in (f"/submissions/{alice_id}", f"/submissions/{alice_id}/status.json"):
        response = bob.get(path)
        assert response.status_code == 404 and "30 / 30" not in response.text
    assert bob.get(f"/submissions/{alice_id}").text == missing.text  # same as an id that does not exist
    assert alice_id not in bob.get(f"/tp/{TP}").text and alice_id not in bob.get("/").text
    assert service.client().get(f"/submissions/{alice_id}").status_code == 401  # signed out
    assert len(alice_id) >= 22  # secrets.token_urlsafe(16): 128 random bits


def test_bad_uploads_get_their_reason_and_store_nothing(service):
    bob = signed_in(service, "bob")
    notebook = with_first_cells(service.root, "pass")
    cases = [(b"hello, this is not JSON", "notebook.ipynb", 400, "the file is not a Jupyter notebook (not valid JSON"),
             (b'{"a": 1}', "notebook.ipynb", 400, "the file is JSON but not a Jupyter notebook (no list of cells)"),
             (b"", "notebook.ipynb", 400, "The file is empty"),
             (notebook, "notebook.txt", 400, "a file ending in .ipynb"),
             (b"x" * (60 * 2**20), "big.ipynb", 413, "over the 20 MB limit")]
    for content, name, code, reason in cases:
        response = bob.submit(TP, content, name)
        assert response.status_code == code and reason in response.text, (name, response.status_code, response.text[:300])
    closed = bob.submit("tp-intro", notebook, csrf=bob.csrf(f"/tp/{TP}"))  # its page shows no form
    assert closed.status_code == 403 and "The deadline of tp-intro has passed" in closed.text
    assert bob.post("/tp/tp-nope/submit", files={"notebook": ("a.ipynb", notebook)}).status_code == 404
    assert count_submissions(service, "bob") == 0
    assert bob.get("/healthz").text == "ok"


def test_a_post_without_the_forms_csrf_token_is_refused(service):
    bob, erin = signed_in(service, "bob"), signed_in(service, "erin")
    notebook = with_first_cells(service.root, "pass")
    for token in ("", "forged", erin.csrf(f"/tp/{TP}")):  # none, made up, another session's
        response = bob.submit(TP, notebook, csrf=token)
        assert response.status_code == 403 and "This form is not valid any more" in response.text
    outsider = service.client()  # a cross-site form: no session cookie at all
    response = outsider.post(f"/tp/{TP}/submit", data={"csrf_token": "x"}, files={"notebook": ("a.ipynb", notebook)})
    assert response.status_code == 403
    assert count_submissions(service, "bob") == 0


def test_100_uploads_in_a_minute_get_429_and_the_failing_jobs_end_failed_with_the_reason(service):
    erin = signed_in(service, "erin")
    notebook = with_first_cells(service.root, "pass")
    token = erin.csrf(f"/tp/{MISSING_TP}")
    start = time.monotonic()
    responses = [erin.submit(MISSING_TP, notebook, csrf=token) for _ in range(100)]
    assert time.monotonic() - start < 60
    codes = [r.status_code for r in responses]
    assert codes == [303] * 5 + [429] * 95
    refused = responses[-1]
    assert "The next one is allowed at" in refused.text and 3500 <= int(refused.headers["retry-after"]) <= 3600
    assert count_submissions(service, "erin") == 5
    for response in responses[:5]:  # max attempts (2): failed, with the reason, once the grader failed twice
        status = erin.wait_done(submission_id(response), timeout=120)
        assert status["state"] == "failed"
        assert re.match(r"failed: the grader failed 2 time\(s\): FileNotFoundError: .*tp-rnn\.ipynb is missing on "
                        r"this worker", status["phase"]), status


def test_an_unavailable_database_gives_503_stores_nothing_and_workers_retry(service):
    frank = signed_in(service, "frank")
    notebook = with_first_cells(service.root, "pass")
    token = frank.csrf(f"/tp/{MISSING_TP}")
    logged = service.worker_log().count("is unavailable")
    if service.pg is None:  # SQLite: another process holds the write lock
        lock = sqlite3.connect(service.db.removeprefix("sqlite:///"), timeout=1)
        lock.execute("BEGIN EXCLUSIVE")
        release = lock.rollback
    else:  # PostgreSQL: the server is down
        service.pg.stop()
        release = service.pg.start
    try:
        response = frank.submit(MISSING_TP, notebook, csrf=token)
        assert response.status_code == 503 and "nothing was stored" in response.text
        assert response.headers["retry-after"] == "30"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and service.worker_log().count("is unavailable") == logged:
            time.sleep(0.5)
        assert service.worker_log().count("is unavailable") > logged  # a worker met it, and retries
    finally:
        release()
    assert count_submissions(service, "frank") == 0  # nothing half-stored
    sid = submission_id(frank.submit(MISSING_TP, notebook, csrf=token))
    assert frank.wait_done(sid, timeout=120)["state"] == "failed"  # the workers came back to the queue


def test_the_instructor_reads_the_class_regrades_and_exports(service):
    client = service.client()
    response = client.get(service.instructor_link())
    assert response.status_code == 303 and response.headers["location"] == "/instructor"
    table = client.get("/instructor").text
    assert 'id="class-table"' in table and "30 / 30" in table and 'href="/instructor/grades.csv"' in table
    rows = {(r["student"], r["tp"]): r for r in csv.DictReader(io.StringIO(client.get("/instructor/grades.csv").text))}
    assert (rows["alice", TP]["counted_score"], rows["alice", TP]["max_score"], rows["alice", TP]["attempts"]) == (
        "30", "30", "1")
    assert (rows["carol", TP]["counted_score"], rows["carol", TP]["status"]) == ("0", "dead")
    assert (rows["erin", MISSING_TP]["attempts"], rows["erin", MISSING_TP]["status"]) == ("5", "failed")
    assert rows["bob", TP]["attempts"] == "0"
    detail = client.get(f"/instructor/submissions/{service.ids['alice']}").text
    assert f"claimed by {service.killed}" in detail and 'id="score">30 / 30<' in detail
    sid = _erin_submissions(service)[0]  # failed: the workers lack tp-rnn's notebooks
    assert client.post(f"/instructor/submissions/{sid}/regrade", data={"csrf_token": "x"}).status_code == 403
    token = client.csrf(f"/instructor/submissions/{sid}")
    response = client.post(f"/instructor/submissions/{sid}/regrade", data={"csrf_token": token})
    assert response.status_code == 303
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and jobs_of(service, sid)[-1].state not in ("done", "failed"):
        time.sleep(0.5)
    jobs = jobs_of(service, sid)
    assert [j.state for j in jobs] == ["failed", "failed"] and jobs[-1].attempts == 2  # re-graded (and failed again)


def _erin_submissions(service: Service) -> list[str]:
    engine = service.engine()
    with engine.connect() as connection:
        ids = list(connection.execute(select(Submission.id).where(Submission.student_id == "erin")).scalars())
    engine.dispose()
    return ids


def test_counted_scores_go_to_nbgraders_gradebook(service):
    from nbgrader.api import Gradebook

    from dl4f_grading import gradebook

    out = cli("service", "gradebook", "--db", service.db, "--root", str(service.root), "--tp", TP)
    assert out.returncode == 0, out.stderr
    assert re.search(r"alice\s+tp-optimization\s+30\n", out.stdout)
    assert re.search(r"carol\s+tp-optimization\s+0\n", out.stdout)
    assert "3 counted score(s) written" in out.stdout  # alice, carol, dave; bob and the others submitted nothing
    with Gradebook(gradebook.db_url(service.root)) as gb:
        assert gb.find_submission(TP, "alice").score == pytest.approx(30.0)
        assert gb.find_submission(TP, "carol").score == pytest.approx(0.0)
    autograded = (service.root / "autograded" / "alice" / TP / f"{TP}.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" not in autograded


def test_open_mode_gives_anonymous_accounts_with_stricter_limits(tmp_path):
    port = free_port()
    root = make_course(tmp_path / "course", port)
    service = Service(root, f"sqlite:///{root}/service.db", port, tmp_path / "logs", open_mode=True)
    service.start_server()
    try:
        visitor = service.client()
        assert visitor.get("/").headers["location"] == "/join"
        assert visitor.post("/join", data={"csrf_token": "forged"}).status_code == 403
        response = visitor.post("/join", data={"csrf_token": visitor.csrf("/join")})
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert f'href="/tp/{TP}"' in visitor.get("/").text
        notebook = with_first_cells(root, "pass")
        codes = [visitor.submit(TP, notebook).status_code for _ in range(3)]
        assert codes == [303, 303, 429]  # open_submissions_per_hour = 2
        other = service.client()
        other.post("/join", data={"csrf_token": other.csrf("/join")})
        first = visitor.get(f"/tp/{TP}").text
        sid = re.search(r'href="/submissions/([\w-]+)"', first).group(1)
        assert other.get(f"/submissions/{sid}").status_code == 404
        assert Path(service.logs / "server.log").exists()
    finally:
        service.stop()


def test_a_worker_stopped_with_sigterm_gives_its_job_back(service):
    """Restarting a worker loses nothing: on SIGTERM it gives its job back to the queue, the attempt not counted."""
    frank = signed_in(service, "frank")
    sid = submission_id(frank.submit(TP, with_first_cells(service.root, "import time\ntime.sleep(300)")))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not jobs_of(service, sid)[0].worker:
        time.sleep(0.2)
    (job,) = jobs_of(service, sid)
    os.kill(int(job.worker.rsplit(":", 1)[1]), signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and f"released by {job.worker}" not in jobs_of(service, sid)[0].log:
        time.sleep(0.2)
    (after,) = jobs_of(service, sid)
    assert f"released by {job.worker} (stopped); queued again" in after.log
    assert after.attempts <= 1 and after.state in ("queued", "running")  # (another worker may have claimed it)
