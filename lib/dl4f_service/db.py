"""The database: engine (SQLite with WAL and a busy timeout, or PostgreSQL), sessions, migrations, retries."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
ENV_VAR = "DL4F_SERVICE_DB"


class DatabaseUnavailable(RuntimeError):
    """The database is locked or unreachable: nothing was stored; try again."""


def url_for(arg: str | None, root: Path) -> str:
    """``--db``, else ``$DL4F_SERVICE_DB``, else ``sqlite:///<root>/service.db``. ``postgresql://`` uses psycopg 3."""
    url = arg or os.environ.get(ENV_VAR) or "sqlite:///" + str(Path(root).resolve() / "service.db")
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, timeout_seconds: float = 5) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": timeout_seconds})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            cursor.execute(f"PRAGMA busy_timeout={int(timeout_seconds * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         connect_args={"connect_timeout": max(1, int(timeout_seconds))})


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_unavailable(exc: BaseException) -> bool:
    """A locked or unreachable database (retry later), not a bug."""
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def retry(action: Callable[[], T], *, log: Callable[[str], None] = print, what: str = "the database",
          max_wait: float = 5.0, give_up_after: float | None = None) -> T:
    """Run ``action`` until it does not fail with an unavailable database (backoff up to ``max_wait`` s);
    after ``give_up_after`` seconds (None: never) raise ``DatabaseUnavailable``."""
    start, delay = time.monotonic(), 0.2
    while True:
        try:
            return action()
        except (OperationalError, DBAPIError) as exc:
            if not is_unavailable(exc):
                raise
            if give_up_after is not None and time.monotonic() - start > give_up_after:
                raise DatabaseUnavailable(f"{what} is unavailable: {str(exc.orig)[:200]}") from exc
            log(f"{what} is unavailable ({type(exc.orig).__name__}: {str(exc.orig).strip()[:120]}); "
                f"retrying in {delay:.1f} s")
            time.sleep(delay)
            delay = min(max_wait, delay * 2)


def alembic_config(url: str):
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Create or upgrade the schema (Alembic migrations only) to the latest revision."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def is_current(engine: Engine) -> bool:
    """Whether the schema is at the latest migration (a worker waits for ``dl4f serve`` to migrate it)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        return MigrationContext.configure(connection).get_current_revision() == head
