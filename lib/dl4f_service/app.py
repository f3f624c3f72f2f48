"""The web application (FastAPI, server-rendered Jinja2 pages with autoescape). It stores submissions and shows
results; it never runs student code and never grades (the workers do)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from dl4f_grading import compose
from dl4f_service import auth, db, pages, policy, queue, store
from dl4f_service.config import Config
from dl4f_service.models import Job, Student, Submission

HERE = Path(__file__).parent
MB = 2**20
FORM_OVERHEAD = MB  # the multipart form's own bytes around the file
JOINS_PER_HOUR_PER_ADDRESS = 10  # open mode: accounts one address may create per hour
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a sign-in link never leaks through a Referer header
    "X-Frame-Options": "DENY",
}


def _when(t: float | None) -> str:
    return "" if t is None else dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def create_app(url: str, root: Path, config: Config, open_mode: bool = False) -> FastAPI:
    root = Path(root).resolve()
    engine = db.make_engine(url, config.service.db_timeout_seconds)
    Session = db.sessions(engine)
    secret = auth.service_secret(root)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters["when"] = _when
    env.filters["num"] = lambda x: "" if x is None else f"{x:g}"
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="dl4f_session", max_age=14 * 86400,
                       same_site="lax", https_only=config.secure_cookies)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.path.startswith(("/signin/", "/instructor", "/tp/", "/submissions/", "/join")) \
                or request.url.path == "/":
            response.headers["Cache-Control"] = "no-store"
        return response

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        context.setdefault("csrf_token", auth.csrf_token(request.session))
        html = env.get_template(name).render(request=request, open_mode=open_mode, **context)
        return HTMLResponse(html, status_code=status)

    def refuse(request: Request, status: int, title: str, message: str, headers: dict | None = None) -> HTMLResponse:
        response = page(request, "message.html", status, title=title, message=message)
        response.headers.update(headers or {})
        return response

    @app.exception_handler(DBAPIError)
    async def database_unavailable(request: Request, exc: DBAPIError):
        if not db.is_unavailable(exc):
            raise exc
        return refuse(request, 503, "Service unavailable",
                      "The database is busy or unreachable: nothing was stored. Try again in a minute.",
                      {"Retry-After": "30"})

    def student_of(request: Request, session) -> Student | None:
        who = request.session.get("student")
        return session.get(Student, who) if who else None

    def need_student(request: Request) -> HTMLResponse:
        if open_mode:
            return RedirectResponse("/join", status_code=303)
        return refuse(request, 401, "Please sign in",
                      "Sign in with the personal link your instructor sent you (ask them for a new one if it expired).")

    @app.get("/healthz")
    def healthz():
        return PlainTextResponse("ok")

    @app.get("/static/{name}")
    def static(name: str):
        media = {"status.js": "text/javascript", "style.css": "text/css"}
        if name not in media:
            return PlainTextResponse("not found", status_code=404)
        return Response((HERE / "static" / name).read_bytes(), media_type=media[name])

    @app.get("/signin/{token}")
    def signin(request: Request, token: str):
        try:
            who = auth.read_token(secret, token)
        except auth.InvalidLink as exc:
            return refuse(request, 403, "Sign-in link not valid", f"{exc}: ask your instructor for a new link.")
        with Session() as session:
            if session.get(Student, who) is None:
                return refuse(request, 403, "Sign-in link not valid",
                              "this link's student is not on the roster: ask your instructor for a new link.")
        request.session.clear()
        request.session["student"] = who
        return RedirectResponse("/", status_code=303)

    @app.get("/")
    def home(request: Request):
        with Session() as session:
            student = student_of(request, session)
            if student is None:
                if request.session.get("instructor"):
                    return RedirectResponse("/instructor", status_code=303)
                return need_student(request)
            rows = [(store.summarize(store.attempts_of(session, student.id, tp), tp, config), rule)
                    for tp, rule in config.tps.items()]
        return page(request, "home.html", student=student, rows=rows)

    @app.get("/tp/{tp}")
    def tp_page(request: Request, tp: str):
        if tp not in config.tps:
            return refuse(request, 404, "Not found", f"no TP named {tp!r} here.")
        with Session() as session:
            student = student_of(request, session)
            if student is None:
                return need_student(request)
            subs = store.attempts_of(session, student.id, tp)
            summary = store.summarize(subs, tp, config)
        policy_ = config.tps[tp]
        return page(request, "tp.html", student=student, tp=tp, policy=policy_, subs=list(reversed(subs)),
                    summary=summary, closed=policy.closed(time.time(), policy_),
                    max_mb=config.service.max_upload_mb)

    def store_submission(student_id: str, tp: str, raw: bytes, filename: str) -> tuple[str | None, float | None]:
        """(submission id, None) or (None, when the next submission is allowed): rate limit and insert in one
        transaction (a failure stores nothing)."""
        now = time.time()
        with Session() as session, session.begin():
            student = session.get(Student, student_id)
            limit = (config.service.open_submissions_per_hour if student.anonymous
                     else config.service.submissions_per_hour)
            count, oldest = store.recent_count(session, student.id, now - 3600)
            if count >= limit:
                return None, oldest + 3600
            return store.new_submission(session, student, tp, raw, filename, config), None

    @app.post("/tp/{tp}/submit")
    async def submit(request: Request, tp: str):
        if tp not in config.tps:
            return refuse(request, 404, "Not found", f"no TP named {tp!r} here.")
        if not request.session.get("student"):
            return refuse(request, 403, "Please sign in", "Sign in with your personal link before submitting.")
        max_bytes = int(config.service.max_upload_mb * MB)
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            return refuse(request, 411, "Length required", "Send the notebook from the form on the TP's page.")
        if int(length) > max_bytes + FORM_OVERHEAD:
            return refuse(request, 413, "File too large",
                          f"The file is over the {config.service.max_upload_mb:g} MB limit: clear the notebook's "
                          "outputs (Edit > Clear outputs of all cells), save, and submit again.")
        form = await request.form(max_files=1, max_fields=5)
        if not auth.csrf_ok(request.session, form.get("csrf_token")):
            return refuse(request, 403, "Form expired", "This form is not valid any more: reload the page and submit again.")
        if policy.closed(time.time(), config.tps[tp]):
            return refuse(request, 403, "Submissions closed", f"The deadline of {tp} has passed: no more submissions.")
        upload = form.get("notebook")
        if upload is None or isinstance(upload, str):
            return refuse(request, 400, "No file", "Choose your notebook (.ipynb) and submit again.")
        raw = await upload.read(max_bytes + 1)
        filename = upload.filename or ""
        if len(raw) > max_bytes:
            return refuse(request, 413, "File too large", f"The file is over the {config.service.max_upload_mb:g} MB "
                          "limit: clear the notebook's outputs, save, and submit again.")
        if not raw:
            return refuse(request, 400, "Empty file", "The file is empty: save your notebook in Jupyter and submit "
                          "the .ipynb file again.")
        if not filename.lower().endswith(".ipynb"):
            return refuse(request, 400, "Not a notebook", "Submit your Jupyter notebook: a file ending in .ipynb.")
        try:
            compose.read_submission(raw)
        except compose.UnreadableSubmission as exc:
            return refuse(request, 400, "Not a notebook", f"{exc}. Submit the .ipynb file Jupyter saved.")
        sid, next_at = await run_in_threadpool(store_submission, request.session["student"], tp, raw, filename)
        if sid is None:
            wait = max(1, int(next_at - time.time()))
            return refuse(request, 429, "Too many submissions",
                          f"You have reached the limit of submissions per hour. The next one is allowed at "
                          f"{_when(next_at)} (in {wait // 60} min {wait % 60} s).", {"Retry-After": str(wait)})
        return RedirectResponse(f"/submissions/{sid}", status_code=303)

    def own_submission(request: Request, session, sid: str) -> Submission | None:
        sub = session.get(Submission, sid)
        if sub is None or sub.student_id != request.session.get("student"):
            return None  # another student's submission looks exactly like a missing one
        return sub

    @app.get("/submissions/{sid}")
    def submission_page(request: Request, sid: str):
        if not request.session.get("student"):
            return need_student(request)
        with Session() as session:
            sub = own_submission(request, session, sid)
            if sub is None:
                return refuse(request, 404, "Not found", "No such submission.")
            position = queue.position(session, sid)
            subs = store.attempts_of(session, sub.student_id, sub.tp)
            summary = store.summarize(subs, sub.tp, config)
        policy_ = config.tps.get(sub.tp)
        late_score = (policy.penalized(sub.score, sub.max_score, sub.late_days, policy_)
                      if sub.score is not None and policy_ else None)
        return page(request, "submission.html", sub=sub, phase=pages.phase_text(sub, position),
                    questions=pages.questions(sub), outputs=pages.outputs(sub), notes=pages.notes(sub),
                    grading_status=pages.grading_status(sub), late_score=late_score, summary=summary)

    @app.get("/submissions/{sid}/status.json")
    def submission_status(request: Request, sid: str):
        with Session() as session:
            sub = own_submission(request, session, sid)
            if sub is None:
                return Response(json.dumps({"error": "not found"}), status_code=404, media_type="application/json")
            return Response(json.dumps(pages.status_json(sub, queue.position(session, sid))),
                            media_type="application/json", headers={"Cache-Control": "no-store"})

    # ---------------------------------------------------------------- open mode
    @app.get("/join")
    def join_page(request: Request):
        if not open_mode:
            return refuse(request, 404, "Not found", "This course gives each student a personal sign-in link.")
        return page(request, "join.html")

    def create_anonymous(address: str) -> str | None:
        now = time.time()
        tag = hashlib.sha256((secret + address).encode()).hexdigest()[:32]
        with Session() as session, session.begin():
            recent = session.execute(select(func.count()).select_from(Student).where(
                Student.created_from == tag, Student.created_at >= now - 3600)).scalar()
            if recent >= JOINS_PER_HOUR_PER_ADDRESS:
                return None
            sid = "anon-" + auth.secrets.token_hex(6)
            session.add(Student(id=sid, name="", email="", anonymous=True, created_at=now, created_from=tag))
            return sid

    @app.post("/join")
    async def join(request: Request):
        if not open_mode:
            return refuse(request, 404, "Not found", "This course gives each student a personal sign-in link.")
        form = await request.form(max_files=0, max_fields=5)
        if not auth.csrf_ok(request.session, form.get("csrf_token")):
            return refuse(request, 403, "Form expired", "This form is not valid any more: reload the page and try again.")
        sid = await run_in_threadpool(create_anonymous, request.client.host if request.client else "")
        if sid is None:
            return refuse(request, 429, "Too many accounts", "Too many accounts were created from your address in "
                          "the last hour: try again later.", {"Retry-After": "3600"})
        request.session.clear()
        request.session["student"] = sid
        return RedirectResponse("/", status_code=303)

    # ---------------------------------------------------------------- instructor
    def need_instructor(request: Request) -> HTMLResponse | None:
        if request.session.get("instructor"):
            return None
        return refuse(request, 401, "Instructor only",
                      "Sign in with the link `dl4f service instructor-link` prints.")

    @app.get("/instructor/signin/{token}")
    def instructor_signin(request: Request, token: str):
        try:
            auth.read_token(secret, token, instructor=True)
        except auth.InvalidLink as exc:
            return refuse(request, 403, "Sign-in link not valid",
                          f"{exc}: print a new one with `dl4f service instructor-link`.")
        request.session.clear()
        request.session["instructor"] = True
        return RedirectResponse("/instructor", status_code=303)

    @app.get("/instructor")
    def instructor(request: Request):
        if (refused := need_instructor(request)) is not None:
            return refused
        with Session() as session:
            table = store.class_table(session, config)
            queued = session.execute(select(func.count()).select_from(Job).where(Job.state == "queued")).scalar()
        return page(request, "instructor.html", table=table, tps=list(config.tps), queued=queued)

    @app.get("/instructor/grades.csv")
    def grades_csv(request: Request):
        if (refused := need_instructor(request)) is not None:
            return refused
        with Session() as session:
            text = store.grades_csv(session, config)
        return Response(text, media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="grades.csv"'})

    @app.get("/instructor/students/{student_id}/{tp}")
    def instructor_attempts(request: Request, student_id: str, tp: str):
        if (refused := need_instructor(request)) is not None:
            return refused
        with Session() as session:
            subs = store.attempts_of(session, student_id, tp)
        return page(request, "instructor_attempts.html", student_id=student_id, tp=tp, subs=list(reversed(subs)))

    @app.get("/instructor/submissions/{sid}")
    def instructor_submission(request: Request, sid: str):
        if (refused := need_instructor(request)) is not None:
            return refused
        with Session() as session:
            sub = session.get(Submission, sid)
            if sub is None:
                return refuse(request, 404, "Not found", "No such submission.")
            jobs = store.jobs_of(session, sid)
            position = queue.position(session, sid)
        result = json.loads(sub.result) if sub.result else {}
        return page(request, "instructor_submission.html", sub=sub, jobs=jobs, phase=pages.phase_text(sub, position),
                    questions=pages.questions(sub), outputs=pages.outputs(sub), grading_status=pages.grading_status(sub),
                    cell_errors=result.get("cell_errors", []), seconds=result.get("seconds", {}))

    @app.post("/instructor/submissions/{sid}/regrade")
    async def regrade(request: Request, sid: str):
        if (refused := need_instructor(request)) is not None:
            return refused
        form = await request.form(max_files=0, max_fields=5)
        if not auth.csrf_ok(request.session, form.get("csrf_token")):
            return refuse(request, 403, "Form expired", "This form is not valid any more: reload the page.")

        def add_job() -> bool:
            with Session() as session, session.begin():
                if session.get(Submission, sid) is None:
                    return False
                queue.requeue(session, sid)
                return True
        if not await run_in_threadpool(add_job):
            return refuse(request, 404, "Not found", "No such submission.")
        return RedirectResponse(f"/instructor/submissions/{sid}", status_code=303)

    return app
