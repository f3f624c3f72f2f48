"""Who is who: signed, expiring sign-in links (itsdangerous), the session's CSRF token, the course's secret.

A link holds ``{"who": student id | "instructor", "exp": unix time}`` signed with the course's service secret
(``<root>/.dl4f-service-secret``, created on first use, mode 600); the session cookie is Starlette's signed
``SessionMiddleware`` cookie (HttpOnly, SameSite=Lax, Secure when the service's URL is https).
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer

SECRET_FILE = ".dl4f-service-secret"
STUDENT_SALT = "dl4f-student-signin"
INSTRUCTOR_SALT = "dl4f-instructor-signin"
INSTRUCTOR = "instructor"


class InvalidLink(ValueError):
    """A sign-in link that is forged, damaged or expired."""


def service_secret(root: Path) -> str:
    """The secret that signs links and cookies (created on first use, readable by the instructor only)."""
    path = Path(root) / SECRET_FILE
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        except FileExistsError:  # another process created it first
            pass
    return path.read_text().strip()


def _serializer(secret: str, salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=salt)


def make_token(secret: str, who: str, seconds: float, now: float | None = None) -> str:
    """A sign-in token for ``who`` (a student id, or ``INSTRUCTOR``) valid ``seconds`` from ``now``."""
    salt = INSTRUCTOR_SALT if who == INSTRUCTOR else STUDENT_SALT
    return _serializer(secret, salt).dumps({"who": who, "exp": (time.time() if now is None else now) + seconds})


def read_token(secret: str, token: str, instructor: bool = False, now: float | None = None) -> str:
    """The ``who`` of a valid token; ``InvalidLink`` (forged or expired) otherwise."""
    salt = INSTRUCTOR_SALT if instructor else STUDENT_SALT
    try:
        data = _serializer(secret, salt).loads(token)
    except BadSignature:
        raise InvalidLink("this sign-in link is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("who"), str) or not isinstance(data.get("exp"), (int, float)):
        raise InvalidLink("this sign-in link is not valid")
    if data["exp"] < (time.time() if now is None else now):
        raise InvalidLink("this sign-in link has expired")
    return data["who"]


def csrf_token(session: dict) -> str:
    """The session's CSRF token (made on first use); every form posts it back as ``csrf_token``."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def csrf_ok(session: dict, posted: str | None) -> bool:
    return bool(posted) and "csrf" in session and hmac.compare_digest(str(posted), session["csrf"])


def link(url: str, token: str, instructor: bool = False) -> str:
    return url.rstrip("/") + ("/instructor/signin/" if instructor else "/signin/") + token
