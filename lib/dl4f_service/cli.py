"""Command line: ``dl4f serve``, ``dl4f worker``, ``dl4f service migrate|roster|links|instructor-link|gradebook``.

``dl4f.cli`` calls ``add_parsers(subparsers)``; ``python -m dl4f_service.cli ...`` runs the same commands.
Each subparser's ``func`` takes the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from dl4f_service import auth, db
from dl4f_service import config as config_module


def _common(p: argparse.ArgumentParser, root: bool = True, config: bool = False) -> None:
    p.add_argument("--db", default=None, help="database URL: sqlite:///PATH or postgresql://USER@HOST/DB "
                   "(default: $DL4F_SERVICE_DB, else sqlite:///<root>/service.db)")
    if root:
        p.add_argument("--root", default=".", help="the course folder (solutions/, exercises/, service.toml)")
    if config:
        p.add_argument("--config", default=None, help="service.toml (default: <root>/service.toml)")


def _load(args) -> tuple[Path, str, config_module.Config]:
    root = Path(getattr(args, "root", ".")).resolve()
    return root, db.url_for(args.db, root), config_module.load(root, getattr(args, "config", None))


def serve(args) -> int:
    import uvicorn

    from dl4f_service.app import create_app

    root, url, config = _load(args)
    db.migrate(url)
    app = create_app(url, root, config, open_mode=args.open)
    print(f"dl4f serve: http://{args.host}:{args.port} ({'open mode, ' if args.open else ''}database {_safe(url)})",
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=True,
                forwarded_allow_ips=args.forwarded_allow_ips)
    return 0


def worker(args) -> int:
    from dl4f_service import worker as worker_module

    root, url, config = _load(args)
    worker_module.run(url, str(root), config, processes=args.processes, once=args.once,
                      allow_unsandboxed=args.unsandboxed)
    return 0


def migrate(args) -> int:
    root, url, _ = _load(args)
    db.migrate(url)
    print(f"database {_safe(url)} is at the latest schema")
    return 0


def roster(args) -> int:
    from dl4f_service import store

    root, url, config = _load(args)
    db.migrate(url)
    text = Path(args.file).read_text(encoding="utf-8-sig")
    with db.sessions(db.make_engine(url))() as session, session.begin():
        added, updated = store.import_roster(session, text)
    print(f"roster: {added} student(s) added, {updated} updated (none removed)")
    return 0


def links(args) -> int:
    from sqlalchemy import select

    from dl4f_service.models import Student

    root, url, config = _load(args)
    secret = auth.service_secret(root)
    writer = csv.writer(sys.stdout)
    writer.writerow(["id", "name", "email", "link"])
    with db.sessions(db.make_engine(url))() as session:
        for s in session.scalars(select(Student).where(Student.anonymous.is_(False)).order_by(Student.id)):
            token = auth.make_token(secret, s.id, args.days * 86400)
            writer.writerow([s.id, s.name, s.email, auth.link(config.service.url, token)])
    return 0


def instructor_link(args) -> int:
    root, url, config = _load(args)
    token = auth.make_token(auth.service_secret(root), auth.INSTRUCTOR, args.hours * 3600)
    print(auth.link(config.service.url, token, instructor=True))
    return 0


def gradebook(args) -> int:
    from dl4f_service import nbgrader_sync

    root, url, config = _load(args)
    written = nbgrader_sync.sync(db.sessions(db.make_engine(url)), root, config, [args.tp] if args.tp else None)
    for student, tp, score in written:
        print(f"{student:<20} {tp:<16} {score:g}")
    print(f"{len(written)} counted score(s) written to nbgrader's gradebook")
    return 0


def _friendly(command):
    """``command`` with a database that cannot be reached reported in one line (``RuntimeError``), no traceback."""
    def run(args) -> int:
        from sqlalchemy.exc import OperationalError

        try:
            return command(args)
        except OperationalError as exc:
            raise RuntimeError(f"cannot use the database ({str(exc.orig).strip()[:300]}): check --db or "
                               f"${db.ENV_VAR}, and that the database server runs") from None
    return run


def _safe(url: str) -> str:
    """The URL without its password (for messages)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def add_parsers(subparsers) -> None:
    """Add ``serve``, ``worker`` and ``service`` to ``dl4f``'s subparsers (each sets ``func``)."""
    p = subparsers.add_parser("serve", help="run the submission service's web server")
    _common(p, config=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--open", action="store_true", help="open mode: anyone may get an anonymous account")
    p.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                   help="proxies trusted for X-Forwarded-For/-Proto (behind a reverse proxy)")
    p.set_defaults(func=_friendly(serve))

    p = subparsers.add_parser("worker", help="grade submitted notebooks (claims jobs from the database)")
    _common(p, config=True)
    p.add_argument("--processes", type=int, default=None, help="grading processes (default: one per core)")
    p.add_argument("--once", action="store_true", help="stop when the queue is empty")
    p.add_argument("--unsandboxed", action="store_true", help="grade without bubblewrap (DANGEROUS: a submission "
                   "can then read and change the course; as for `dl4f tp grade --unsandboxed`)")
    p.set_defaults(func=_friendly(worker))

    service = subparsers.add_parser("service", help="manage the submission service").add_subparsers(
        dest="service_command", required=True)
    p = service.add_parser("migrate", help="create or upgrade the database's schema")
    _common(p)
    p.set_defaults(func=_friendly(migrate))
    p = service.add_parser("roster", help="import students from a CSV (id,name,email); never deletes")
    p.add_argument("file")
    _common(p)
    p.set_defaults(func=_friendly(roster))
    p = service.add_parser("links", help="each student's personal sign-in link (CSV on stdout)")
    _common(p, config=True)
    p.add_argument("--days", type=float, default=14, help="how long the links stay valid")
    p.set_defaults(func=_friendly(links))
    p = service.add_parser("instructor-link", help="print the instructor's sign-in link")
    _common(p, config=True)
    p.add_argument("--hours", type=float, default=12)
    p.set_defaults(func=_friendly(instructor_link))
    p = service.add_parser("gradebook", help="write the counted scores into nbgrader's gradebook and autograded/")
    _common(p, config=True)
    p.add_argument("--tp", default=None)
    p.set_defaults(func=_friendly(gradebook))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dl4f_service.cli")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (config_module.ConfigError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
