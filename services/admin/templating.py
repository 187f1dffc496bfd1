"""Jinja2 rendering for the admin pages: autoescaped templates plus the context every page needs
(the admin, its CSRF token, the senders it may see, the current sender)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from services.admin.sessions import Admin, pool_of, settings_of
from shared.admins import repository as admins
from shared.audit import service as audit
from shared.db import Transaction

TEMPLATES_DIR = Path(__file__).with_name("templates")
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.autoescape = True  # every template, whatever its extension

# Notices shown after a redirect: the URL carries a key, never text (nothing to reflect).
NOTICES = {
    "saved": "Saved.",
    "created": "Created.",
    "deleted": "Deleted.",
    "queued": "Queued.",
    "test_sent": "Test message queued.",
    "paused": "Paused.",
    "resumed": "Resumed.",
    "cancelled": "Cancelled.",
    "retried": "Failed sends queued again.",
    "reprocess": "Message queued for parsing again.",
    "totp_on": "Two-factor authentication is on.",
    "totp_off": "Two-factor authentication is off.",
}


def _datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) if value else ""


def _percent(part: float | int | None, whole: float | int | None) -> str:
    if not whole:
        return "-"
    return f"{100.0 * float(part or 0) / float(whole):.1f}%"


def _json_script(value: Any) -> Markup:
    """JSON safe to place inside ``<script type="application/json">`` (no ``</script>``)."""
    text = json.dumps(value, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above for this one context


templates.env.filters["dt"] = _datetime
templates.env.filters["percent"] = _percent
templates.env.filters["json_script"] = _json_script


def api_docs_url(request: Request) -> str:
    settings = settings_of(request)
    if settings.admin_api_docs_url:
        return settings.admin_api_docs_url
    return f"http://{settings.bind_host}:{settings.api_port}/docs"


async def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    sender_id: int | None = None,
) -> HTMLResponse:
    """Render a full page (or an htmx fragment when ``name`` starts with ``_``)."""
    if status_code >= 400:  # a form shown again with its errors: nothing changed, nothing audited
        audit.refused(request)
    ctx: dict[str, Any] = dict(context or {})
    admin: Admin | None = getattr(request.state, "admin", None)
    ctx.setdefault("admin", admin)
    ctx["csrf_token"] = admin.csrf_token if admin else ctx.get("csrf_token", "")
    ctx["api_docs_url"] = api_docs_url(request)
    notice = request.query_params.get("notice")
    ctx["notice"] = NOTICES.get(notice or "")
    if admin is not None and not Path(name).name.startswith("_"):
        tx: Transaction | None = getattr(request.state, "tx", None)
        if tx is not None:  # the request's unit of work
            ctx["nav_senders"] = await admins.visible_senders(tx.conn, admin.id, admin.is_owner)
        else:  # an error page, shown after the request's unit of work rolled back
            async with pool_of(request).connection() as conn:
                ctx["nav_senders"] = await admins.visible_senders(conn, admin.id, admin.is_owner)
        ctx["current_sender"] = next((s for s in ctx["nav_senders"] if s["id"] == sender_id), None)
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
