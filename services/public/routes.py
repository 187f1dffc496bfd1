"""The pages subscribers see: view in browser and unsubscribe (confirm, one-click, resubscribe).

Pixel and click live in ``fast.py``. The signed token in the path is the only capability: no
login and no cookie, so there is no ambient authority for another site to abuse (CSRF). Only a
POST changes anything; a GET (a scanner following the link) never unsubscribes.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.public import pages
from services.public.links import Targets, render_send
from services.public.state import PublicState
from shared.db import Row, transaction
from shared.errors import BrokerUnavailable
from shared.events import repository, service
from shared.events.models import wire_event
from shared.logging import get_logger

log = get_logger(__name__)
router = APIRouter()
MAX_FORM_BYTES = 16 * 1024
PAGE_MARKER = b"source=page"

# The sent email is the sender's content: it may show remote images and styles, but it never
# runs a script, posts a form, or is framed; the token in the URL never leaks as a Referer.
VIEW_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src * data:; style-src * 'unsafe-inline'; "
    "font-src * data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
}


def _state(request: Request) -> PublicState:
    state: PublicState = request.app.state.public
    return state


def not_found(request: Request) -> HTMLResponse:
    language = pages.language_for_accept(request.headers.get("accept-language"))
    return HTMLResponse(pages.not_found_page(language), 404, headers=pages.PAGE_HEADERS)


async def database_down(request: Request, _error: Exception) -> HTMLResponse:
    """PostgreSQL cannot be reached: a localised 503 page instead of a bare 500 (views,
    unsubscribes; opens never need the database, uncached clicks answer in ``fast``)."""
    log.warning("database unavailable", path=request.url.path, error=type(_error).__name__)
    language = pages.language_for_accept(request.headers.get("accept-language"))
    headers = {**pages.PAGE_HEADERS, "Retry-After": str(pages.RETRY_AFTER_SECONDS)}
    return HTMLResponse(pages.unavailable_page(language), 503, headers=headers)


def page(template: str, context: Row, status: int = 200, **values: Any) -> HTMLResponse:
    language = pages.language_for_locale(context.get("locale"))
    body = pages.render(template, language, sender_name=context["sender_name"], **values)
    return HTMLResponse(body, status, headers=pages.PAGE_HEADERS)


async def _context(request: Request, token: str) -> tuple[int, Row] | None:
    send_id = _state(request).codec.decode(token)
    if send_id is None:
        return None
    wait = _state(request).settings.public_db_wait_seconds
    async with request.app.state.pool.connection(timeout=wait) as conn:
        context = await repository.send_context(conn, send_id)
    return None if context is None else (send_id, context)


def _client(request: Request) -> tuple[str | None, str | None]:
    ip = request.client.host if request.client else None
    return ip, request.headers.get("user-agent")


@router.get("/v/{token}", include_in_schema=False)
async def view(request: Request, token: str) -> Response:
    """The personalised message exactly as sent (HTML, or the plain body as a page)."""
    found = await _context(request, token)
    rendered = render_send(found[1], token) if found else None
    if found is None or rendered is None:
        return not_found(request)
    send_id, context = found
    buffer, links = _state(request).require()
    links.put(send_id, Targets.build(rendered.links, context["redirect_url"]))
    ip, ua = _client(request)
    buffer.add(wire_event(send_id, "view", time.time(), ip, ua, None))
    if rendered.html:
        return HTMLResponse(rendered.html, headers=VIEW_HEADERS)
    body = pages.render(
        "plain.html",
        pages.language_for_locale(context["locale"]),
        sender_name=context["sender_name"],
        subject=rendered.subject,
        body=rendered.plain or "",
    )
    return HTMLResponse(body, headers=pages.PAGE_HEADERS)


@router.get("/u/{token}", include_in_schema=False)
async def confirm(request: Request, token: str) -> Response:
    """The confirmation page with its button; a GET never unsubscribes anyone."""
    found = await _context(request, token)
    if found is None:
        return not_found(request)
    _send_id, context = found
    state = context["subscriber_state"]
    if state is None or state != "active":
        return page(
            "unsubscribed.html",
            context,
            already=True,
            can_resubscribe=state == "unsubscribed",
            resubscribe_action=f"{token}/resubscribe",
        )
    return page("confirm.html", context, address=context["address"], action=token)


@router.post("/u/{token}", include_in_schema=False)
async def unsubscribe(request: Request, token: str) -> Response:
    """Unsubscribe at once: the page's form, or an RFC 8058 one-click POST from a mail client
    (body ``List-Unsubscribe=One-Click``). Stored before the response; idempotent."""
    found = await _context(request, token)
    if found is None:
        return not_found(request)
    send_id, context = found
    body = await _read_limited(request)
    # Our own form says so; any other POST is a mail client's RFC 8058 one-click (whose body,
    # List-Unsubscribe=One-Click, may come urlencoded or as multipart/form-data).
    source = "page" if PAGE_MARKER in body else "one_click"
    ip, ua = _client(request)
    try:
        async with transaction(request.app.state.pool) as tx:
            result = await service.unsubscribe(
                tx.conn, send_id, source=source, ip=ip, user_agent=ua
            )
            if result is not None:
                tx.enqueue(*result.messages)
    except BrokerUnavailable:
        # Raised after COMMIT: the unsubscribe and its webhook delivery rows are stored (the
        # webhook sweep queues them again), so the subscriber still sees the confirmation.
        log.exception("webhook publish failed after unsubscribe")
    if result is None:
        return not_found(request)
    return page(
        "unsubscribed.html",
        context,
        already=result.already,
        can_resubscribe=result.subscriber_id is not None,
        resubscribe_action=f"{token}/resubscribe",
    )


@router.post("/u/{token}/resubscribe", include_in_schema=False)
async def resubscribe(request: Request, token: str) -> Response:
    found = await _context(request, token)
    if found is None:
        return not_found(request)
    send_id, context = found
    ip, ua = _client(request)
    async with transaction(request.app.state.pool) as tx:
        result = await service.resubscribe(tx.conn, send_id, ip=ip, user_agent=ua)
    if result is None:
        return not_found(request)
    return page("resubscribed.html", context, changed=result.changed)


async def _read_limited(request: Request) -> bytes:
    """The request body, cut at MAX_FORM_BYTES (only a marker is looked for in it)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_FORM_BYTES:
            break
    return b"".join(chunks)[:MAX_FORM_BYTES]
