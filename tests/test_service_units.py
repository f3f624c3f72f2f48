"""The submission service's parts in-process: config, policies, sign-in links, cookies, the queue's claim,
lease expiry, retries and max attempts (on SQLite and on a throw-away PostgreSQL), the roster and the CLI."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from service_processes import postgres_missing, shared_postgres
from sqlalchemy import select

from dl4f_service import auth, config, db, policy, queue, store
from dl4f_service.models import Job, Student, Submission

UTC = dt.UTC


# ---------------------------------------------------------------- config and policies
def test_config_reads_policies_and_refuses_bad_settings(tmp_path):
    assert list(config.load(tmp_path).tps) == list(config.TPS)  # no service.toml: the five TPs, no deadline
    (tmp_path / "service.toml").write_text('[service]\nurl = "https://dl4f.example.org"\nlease_seconds = 30\n'
                                           '[tp.tp-rnn]\ndeadline = "2026-03-01T23:59:00+01:00"\ncounts = "last"\n'
                                           'late_penalty_per_day = 0.1\ncutoff_days = 3\n')
    c = config.load(tmp_path)
    assert list(c.tps) == ["tp-rnn"] and c.secure_cookies and c.service.lease_seconds == 30
    assert c.tps["tp-rnn"].deadline == dt.datetime(2026, 3, 1, 22, 59, tzinfo=UTC)
    for bad, message in (('[tp.x]\ndeadline = "2026-03-01"\n', "UTC offset"), ('[tp.x]\ncounts = "first"\n', "counts"),
                         ("[service]\nmax_upload = 3\n", "unknown setting"), ("[grading\n", "not valid TOML")):
        (tmp_path / "service.toml").write_text(bad)
        with pytest.raises(config.ConfigError, match=message):
            config.load(tmp_path)


def test_late_days_cutoff_and_penalty():
    rule = config.TPPolicy(deadline=dt.datetime(2026, 3, 1, 12, tzinfo=UTC), late_penalty_per_day=0.1, cutoff_days=2)
    deadline = rule.deadline.timestamp()
    assert policy.late_days(deadline - 5, rule) == 0 and policy.late_days(deadline, rule) == 0
    assert policy.late_days(deadline + 1, rule) == 1  # a started day counts
    assert policy.late_days(deadline + 86400 + 1, rule) == 2
    assert not policy.closed(deadline + 2 * 86400, rule) and policy.closed(deadline + 2 * 86400 + 1, rule)
    assert policy.penalized(27, 30, 2, rule) == pytest.approx(21.0)  # 27 - 2 x 0.1 x 30
    assert policy.penalized(5, 30, 3, rule) == 0.0  # never below zero
    assert not policy.closed(time.time(), config.TPPolicy())  # no deadline: always open
    assert policy.closed(deadline + 1, config.TPPolicy(deadline=rule.deadline))  # default: no late work


def test_the_counted_attempt_is_the_best_or_the_last_after_penalty():
    attempts = [policy.Attempt("a", 1, 20, 30), policy.Attempt("b", 2, 27, 30, late_days=1),
                policy.Attempt("c", 3, 25, 30), policy.Attempt("d", 4, None, None)]  # d: still running
    best = config.TPPolicy(counts="best", late_penalty_per_day=0.1)
    chosen, value = policy.counted(attempts, best)
    assert (chosen.id, value) == ("c", pytest.approx(25.0))  # b is worth 27 - 3 = 24 after its day late
    chosen, value = policy.counted(attempts, config.TPPolicy(counts="last"))
    assert (chosen.id, value) == ("c", pytest.approx(25.0))  # the last graded, not the running one
    chosen, _ = policy.counted([policy.Attempt("x", 1, 10, 30), policy.Attempt("y", 2, 10, 30)], config.TPPolicy())
    assert chosen.id == "x"  # equals: the earliest
    assert policy.counted([policy.Attempt("d", 4, None, None)], best) == (None, None)


# ---------------------------------------------------------------- links and cookies
def test_links_are_signed_expire_and_do_not_cross_roles(tmp_path):
    secret = auth.service_secret(tmp_path)
    assert (tmp_path / auth.SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert auth.service_secret(tmp_path) == secret  # created once
    token = auth.make_token(secret, "alice", 60)
    assert auth.read_token(secret, token) == "alice"
    with pytest.raises(auth.InvalidLink, match="expired"):
        auth.read_token(secret, auth.make_token(secret, "alice", 60, now=time.time() - 120))
    forged = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    with pytest.raises(auth.InvalidLink, match="not valid"):
        auth.read_token(secret, forged)
    with pytest.raises(auth.InvalidLink, match="not valid"):
        auth.read_token("another course's secret", token)
    with pytest.raises(auth.InvalidLink, match="not valid"):  # a student's link never signs an instructor in
        auth.read_token(secret, token, instructor=True)
    session: dict = {}
    csrf = auth.csrf_token(session)
    assert auth.csrf_ok(session, csrf) and not auth.csrf_ok(session, csrf + "x") and not auth.csrf_ok({}, csrf)
    assert not auth.csrf_ok(session, None)


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_the_session_cookie_is_httponly_samesite_and_secure_over_https(tmp_path):
    from fastapi.testclient import TestClient

    from dl4f_service.app import create_app

    url = f"sqlite:///{tmp_path}/s.db"
    db.migrate(url)
    with db.sessions(db.make_engine(url))() as session, session.begin():
        store.import_roster(session, "id,name,email\nalice,Alice,a@x\n")
    c = config.Config()
    c.service.url = "https://dl4f.example.org"
    client = TestClient(create_app(url, tmp_path, c), base_url="https://testserver")
    response = client.get("/signin/" + auth.make_token(auth.service_secret(tmp_path), "alice", 60), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["content-security-policy"]


# ---------------------------------------------------------------- the queue, on both databases
@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/queue.db"
    else:
        reason = postgres_missing()
        if reason:
            pytest.skip(reason)
        url = shared_postgres().new_database()
    db.migrate(url)
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


def _submit(engine, n: int, student: str = "alice") -> list[str]:
    c = config.Config()
    with db.sessions(engine)() as session, session.begin():
        if session.get(Student, student) is None:
            store.import_roster(session, f"id,name,email\n{student},,\n")
    ids = []
    for _ in range(n):
        with db.sessions(engine)() as session, session.begin():
            ids.append(store.new_submission(session, session.get(Student, student), "tp-rnn", b"{}", "x.ipynb", c))
    return ids


def test_two_workers_never_claim_the_same_job(database):
    _submit(database, 12)
    claimed: dict[str, list[int]] = {"w1": [], "w2": []}

    def work(name):
        while (job := queue.claim(database, name, 60, 3)) is not None:
            claimed[name].append(job)
    threads = [threading.Thread(target=work, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = claimed["w1"] + claimed["w2"]
    assert sorted(everything) == list(range(1, 13)) and len(set(everything)) == 12
    with db.sessions(database)() as session:
        assert {j.state for j in session.scalars(select(Job))} == {"running"}
        assert {s.state for s in session.scalars(select(Submission))} == {"running"}


def test_an_expired_lease_is_claimed_again_then_failed_with_its_reason(database):
    (sid,) = _submit(database, 1)
    t0 = time.time()
    job = queue.claim(database, "w1", 10, 2, now=t0)
    assert queue.claim(database, "w2", 10, 2, now=t0 + 5) is None  # w1's lease holds
    assert queue.claim(database, "w2", 10, 2, now=t0 + 11) == job  # w1 died: w2 takes it (attempt 2)
    assert not queue.heartbeat(database, job, "w1", 10)  # w1 comes back: the job is not its own any more
    assert not queue.complete(database, job, "w1", {"status": "graded", "score": 1, "max_score": 1}, None)
    assert queue.expire(database, 2, now=t0 + 15) == 0  # w2's lease holds
    assert queue.claim(database, "w3", 10, 2, now=t0 + 25) is None  # 2 attempts: no third claim
    assert queue.expire(database, 2, now=t0 + 25) == 1
    with db.sessions(database)() as session:
        j, s = session.get(Job, job), session.get(Submission, sid)
        assert (j.state, j.attempts, s.state) == ("failed", 2, "failed")
        assert s.detail.startswith("the grading was interrupted 2 time(s)")
        assert "claimed by w1" in j.log and "claimed by w2" in j.log


def test_a_grader_error_is_retried_then_failed_and_a_result_is_written_once(database):
    first, second = _submit(database, 2)
    job = queue.claim(database, "w1", 60, 2)
    assert queue.give_up(database, job, "w1", "RuntimeError: boom", 2) == "queued"
    assert queue.claim(database, "w1", 60, 2) != job  # the retry waits its backoff: the next job comes first
    time.sleep(2.1)
    assert queue.claim(database, "w1", 60, 2) == job
    assert queue.give_up(database, job, "w1", "RuntimeError: boom", 2) == "failed"
    with db.sessions(database)() as session:
        assert session.get(Submission, first).detail == "the grader failed 2 time(s): RuntimeError: boom"
    assert queue.complete(database, 2, "w1", {"status": "graded", "score": 3.0, "max_score": 30.0}, "{}")
    assert not queue.complete(database, 2, "w1", {"status": "graded", "score": 3.0, "max_score": 30.0}, "{}")
    with db.sessions(database)() as session:
        s = session.get(Submission, second)
        assert (s.state, s.score, s.max_score) == ("graded", 3.0, 30.0)
        assert queue.position(session, second) is None


def test_a_stopped_worker_gives_its_job_back_without_counting_the_attempt(database):
    (sid,) = _submit(database, 1)
    job = queue.claim(database, "w1", 60, 2)
    assert queue.release(database, job, "w1") and not queue.release(database, job, "w1")
    with db.sessions(database)() as session:
        j = session.get(Job, job)
        assert (j.state, j.attempts, j.worker, session.get(Submission, sid).state) == ("queued", 0, "", "queued")
    assert queue.claim(database, "w2", 60, 2) == job


def test_queue_positions_and_regrade(database):
    ids = _submit(database, 3)
    with db.sessions(database)() as session:
        assert [queue.position(session, s) for s in ids] == [1, 2, 3]
    queue.claim(database, "w1", 60, 3)
    with db.sessions(database)() as session, session.begin():
        assert [queue.position(session, s) for s in ids] == [None, 1, 2]
        queue.requeue(session, ids[0])
    with db.sessions(database)() as session:
        assert queue.position(session, ids[0]) == 3 and session.get(Submission, ids[0]).state == "queued"


# ---------------------------------------------------------------- roster and CLI
def test_roster_import_updates_and_never_deletes(tmp_path):
    url = f"sqlite:///{tmp_path}/r.db"
    db.migrate(url)
    sessions = db.sessions(db.make_engine(url))
    with sessions() as session, session.begin():
        assert store.import_roster(session, "id,name,email\na1,Ann,ann@x\nb2,Ben,ben@x\n") == (2, 0)
    with sessions() as session, session.begin():
        assert store.import_roster(session, "id,name,email\na1,Ann Lee,ann@y\n") == (0, 1)
    with sessions() as session:
        assert [(s.id, s.name, s.email) for s in session.scalars(select(Student).order_by(Student.id))] == [
            ("a1", "Ann Lee", "ann@y"), ("b2", "Ben", "ben@x")]
    with sessions() as session, pytest.raises(store.RosterError, match="line 2"):
        store.import_roster(session, "id,name,email\nbad id!,x,y\n")
    with sessions() as session, pytest.raises(store.RosterError, match="header"):
        store.import_roster(session, "")


def test_cli_roster_links_and_instructor_link(tmp_path):
    from service_processes import cli

    (tmp_path / "roster.csv").write_text("id,name,email\nalice,Alice A,alice@example.org\n")
    (tmp_path / "service.toml").write_text('[service]\nurl = "https://dl4f.example.org/"\n')
    url = f"sqlite:///{tmp_path}/c.db"
    out = cli("service", "roster", str(tmp_path / "roster.csv"), "--db", url, "--root", str(tmp_path))
    assert out.returncode == 0 and "1 student(s) added" in out.stdout, out.stderr
    out = cli("service", "links", "--db", url, "--root", str(tmp_path), "--days", "1")
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "id,name,email,link" and lines[1].startswith("alice,Alice A,alice@example.org,"
                                                                     "https://dl4f.example.org/signin/")
    secret = auth.service_secret(tmp_path)
    assert auth.read_token(secret, lines[1].rsplit("/", 1)[1]) == "alice"
    out = cli("service", "instructor-link", "--root", str(tmp_path), "--hours", "1")
    assert auth.read_token(secret, out.stdout.strip().rsplit("/", 1)[1], instructor=True) == auth.INSTRUCTOR
    (tmp_path / "service.toml").write_text('[tp.x]\ncounts = "first"\n')
    out = cli("service", "links", "--db", url, "--root", str(tmp_path))
    assert out.returncode == 2 and 'counts must be "best" or "last"' in out.stderr

