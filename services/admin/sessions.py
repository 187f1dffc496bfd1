"""Admin requests: the unit of work, sessions and CSRF.

Each request runs in ONE unit of work (``Tx``): one pooled connection, one transaction that
commits when the route returns (before the response is sent, so a failed commit is an error page,
not a false "saved"), and the jobs it queued published after that COMMIT. The session check, the
sender scope, the route and the page's navigation all read through it.

The session cookie holds a random id; the database holds its SHA-256 (``admin_sessions``). Every
POST must carry the session's CSRF token, as the ``csrf_token`` form field or the
``X-CSRF-Token`` header (htmx requests). The login form, which has no session yet, uses a
double-submit cookie instead.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from psycopg_pool import AsyncConnectionPool

from shared import db
from shared.admins import repository as admins
from shared.audit import service as audit
from shared.config import Settings
from shared.db import Transaction
from shared.errors import AppError, NotFound
from shared.limits import valid_id

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(Exception):
    """No live session: the handler redirects to the login page."""


class CsrfRejected(AppError):
    status_code, error_type = 403, "CsrfRejected"


@dataclass(frozen=True)
class Admin:
    """The logged-in admin user of this request."""

    id: int
    email: str
    role: str
    csrf_token: str
    totp_enabled: bool

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def pool_of(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


def cookie_secure(settings: Settings) -> bool:
    """Secure cookies everywhere but a developer's plain-http machine (unless forced)."""
    if settings.admin_cookie_secure is not None:
        return settings.admin_cookie_secure
    return not settings.is_dev


def session_cookie_name(settings: Settings) -> str:
    # __Host- makes the browser refuse the cookie unless it is Secure, host-only and Path=/.
    return "__Host-tart_admin" if cookie_secure(settings) else "tart_admin"


def login_csrf_cookie_name(settings: Settings) -> str:
    return "__Host-tart_login" if cookie_secure(settings) else "tart_login"


def session_ttl_s(settings: Settings) -> int:
    return settings.admin_session_hours * 3600


def set_session_cookie(response: Response, settings: Settings, session_id: str) -> None:
    response.set_cookie(
        session_cookie_name(settings),
        session_id,
        max_age=session_ttl_s(settings),
        path="/",
        secure=cookie_secure(settings),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie_name(settings),
        path="/",
        secure=cookie_secure(settings),
        httponly=True,
        samesite="lax",
    )


def set_login_csrf(response: Response, settings: Settings, token: str) -> None:
    """The login form's double-submit token, as a short-lived strict cookie."""
    response.set_cookie(
        login_csrf_cookie_name(settings),
        token,
        max_age=3600,
        path="/",
        secure=cookie_secure(settings),
        httponly=True,
        samesite="strict",
    )


def tokens_match(expected: str | None, given: object) -> bool:
    if not expected or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def safe_next(target: str | None) -> str:
    """Only a path on this site: ``//host`` and ``/\\host`` would leave it (no open redirect)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c in target for c in "\r\n\t\\")
    ):
        return "/"
    return target


def login_url(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return "/login?next=" + quote(safe_next(path), safe="")


async def unit_of_work(request: Request) -> AsyncIterator[Transaction]:
    """The request's one connection and transaction (see the module docstring). Kept on
    ``request.state.tx`` while the route runs, so the page renderer reads through it too."""
    async with pool_of(request).connection() as conn, db.unit_of_work(conn) as tx:
        request.state.tx = tx
        try:
            yield tx
            admin: Admin | None = getattr(request.state, "admin", None)
            if admin is not None and audit.changes(request):  # audited in its transaction
                await audit.record_request(
                    tx.conn, request, actor_kind="admin", actor_id=admin.id,
                    actor_label=admin.email, sender_id=None,
                )  # fmt: skip
        finally:
            request.state.tx = None


# scope="function": the transaction commits when the route returns, before the response is sent.
Tx = Annotated[Transaction, Depends(unit_of_work, scope="function")]


def session_cookie(request: Request) -> str:
    """The session id from its cookie; none is a redirect to the login page before any
    connection is taken (dependencies run in the order they are declared)."""
    session_id = request.cookies.get(session_cookie_name(settings_of(request)))
    if not session_id or len(session_id) > 128:
        raise LoginRequired()
    return session_id


async def current_admin(
    request: Request, session_id: Annotated[str, Depends(session_cookie)], tx: Tx
) -> Admin:
    """The session's user; a POST must also carry the session's CSRF token (403 otherwise)."""
    settings = settings_of(request)
    row = await admins.touch_session(tx.conn, session_id, session_ttl_s(settings))
    if row is None:
        raise LoginRequired()
    admin = Admin(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        csrf_token=row["csrf_token"],
        totp_enabled=row["totp_enabled"],
    )
    request.state.admin = admin
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        given: object = request.headers.get(CSRF_HEADER)
        if not given:
            form = await request.form()
            given = form.get(CSRF_FIELD)
        if not tokens_match(admin.csrf_token, given):
            raise CsrfRejected("the form's CSRF token is missing or wrong; reload the page")
    return admin


CurrentAdmin = Annotated[Admin, Depends(current_admin)]


async def require_owner(admin: CurrentAdmin) -> Admin:
    """Owner-only pages are a 404 for members: they do not learn what exists."""
    if not admin.is_owner:
        raise NotFound("no such page")
    return admin


OwnerAdmin = Annotated[Admin, Depends(require_owner)]


async def sender_scope(sender_id: int, admin: CurrentAdmin, tx: Tx) -> int:
    """The sender of a ``/senders/{sender_id}/...`` page, if this admin may see it (404 if not:
    a member cannot even learn that another sender exists)."""
    if not valid_id(sender_id):  # a larger id in a URL is a 404, not a database error
        raise NotFound("no such sender")
    if not await admins.can_see_sender(tx.conn, admin.id, admin.is_owner, sender_id):
        raise NotFound("no such sender")
    return sender_id


SenderId = Annotated[int, Depends(sender_scope)]
