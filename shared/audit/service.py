"""What the web tier calls to audit a change: build the entry from the request (route template,
path parameters, client address, user agent) and the actor, plus the before/after a route left
on ``request.state.audit_change``."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from starlette.requests import Request

from shared.audit.repository import Entry, record
from shared.db import Conn

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def changes(request: Request) -> bool:
    """Whether the request may change something (everything but GET, HEAD and OPTIONS)."""
    return request.method not in SAFE_METHODS


def set_change(request: Request, before: Any, after: Any) -> None:
    """Called by a route that changes settings: keep their state before and after (never a
    secret) for the audit entry; dates and other values become JSON text."""
    request.state.audit_change = (_json_safe(before), _json_safe(after))


def refused(request: Request) -> None:
    """Called by a route that answers a change request with an error page instead of raising
    (a form shown again with its errors): nothing changed, so nothing is audited."""
    request.state.audit_refused = True


def _json_safe(value: Any) -> Any:
    return None if value is None else json.loads(json.dumps(value, default=str))


def _action(request: Request) -> str:
    route = request.scope.get("route")
    template = getattr(route, "path", None) or request.url.path
    return f"{request.method} {template}"


def _target(request: Request) -> dict[str, Any]:
    """The path parameters, ids as numbers ("/senders/{sender_id}" gives a string)."""
    target: dict[str, Any] = {}
    for name, value in request.path_params.items():
        if isinstance(value, str) and value.isdigit() and len(value) < 19:
            value = int(value)
        if isinstance(value, (int, str)):
            target[name] = value if isinstance(value, int) else value[:200]
    return target


def _ip(request: Request) -> str | None:
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


async def record_request(
    conn: Conn,
    request: Request,
    *,
    actor_kind: str,
    actor_id: int,
    actor_label: str,
    sender_id: int | None,
) -> None:
    """Write the audit entry of a change request that succeeded, on ``conn``."""
    if getattr(request.state, "audit_refused", False):
        return
    before, after = getattr(request.state, "audit_change", (None, None))
    target = _target(request)
    if sender_id is None and isinstance(target.get("sender_id"), int):
        sender_id = target["sender_id"]
    await record(
        conn,
        Entry(
            actor_kind=actor_kind,
            actor_id=actor_id,
            actor_label=actor_label,
            action=_action(request),
            sender_id=sender_id,
            target=target,
            ip=_ip(request),
            user_agent=request.headers.get("user-agent"),
            before=before,
            after=after,
        ),
    )
