"""The preference center: ``/p/<send token>``, linked from a message as ``{{ preferences_url }}``.

A subscriber sees their subscription and may change the page/mail language and the sender's
topic checkboxes, unsubscribe from everything, or subscribe again. A GET never changes anything
(a link scanner fetching the URL leaves no trace). Each POST must carry the form's signed stamp
(bound to this send, valid ``FORM_HOURS``), which another site cannot read, and is refused when
the browser says it comes from another site (``Sec-Fetch-Site: cross-site``): no login or
cookie is involved, so this is the whole of CSRF protection. After a POST the browser is sent
back to the page (303), so a reload does not post again. Every change writes a consent record.

The link is the send token of the unsubscribe link (signed per send) and works for
``TART_PREFERENCES_LINK_DAYS`` after the message was sent; the unsubscribe link never expires.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.public import pages
from services.public.state import PublicState
from shared.config import Settings
from shared.db import Row, transaction
from shared.errors import BrokerUnavailable
from shared.events import service as events
from shared.logging import get_logger
from shared.preferences import repository, service
from shared.tokens import SignedValues, signed_values

log = get_logger(__name__)
router = APIRouter()
MAX_BODY = 16 * 1024
FORM_HOURS = 2
NOTICES = ("saved", "unchanged", "unsubscribed", "resubscribed")


def _state(request: Request) -> PublicState:
    state: PublicState = request.app.state.public
    return state


def _stamps(settings: Settings) -> SignedValues:
    return signed_values([s.get_secret_value() for s in settings.token_secrets], "preferences")


def _client(request: Request) -> tuple[str | None, str | None]:
    ip = request.client.host if request.client else None
    return ip, request.headers.get("user-agent")


def _not_found(request: Request) -> HTMLResponse:
    language = pages.language_for_accept(request.headers.get("accept-language"))
    return HTMLResponse(pages.not_found_page(language), 404, headers=pages.PAGE_HEADERS)


async def _load(request: Request, token: str) -> Row | Response:
    """The send's context, or the response to give instead: 404 for a bad token, an unknown
    send or an erased subscriber; 410 for an expired link."""
    send_id = _state(request).codec.decode(token)
    if send_id is None:
        return _not_found(request)
    settings = _state(request).settings
    async with request.app.state.pool.connection(timeout=settings.public_db_wait_seconds) as conn:
        context = await repository.context(conn, send_id)
    if context is None or context["subscriber_id"] is None:
        return _not_found(request)
    if service.expired(context["issued_at"], datetime.now(UTC), settings.preferences_link_days):
        language = pages.language_for_locale(context["locale"])
        body = pages.render(
            "preferences_expired.html",
            language,
            sender_name=context["sender_name"],
            unsubscribe_action=f"../u/{token}",
        )
        return HTMLResponse(body, 410, headers=pages.PAGE_HEADERS)
    return context


@router.get("/p/{token}", include_in_schema=False)
async def preferences_page(request: Request, token: str) -> Response:
    """The preference page. Never changes anything."""
    found = await _load(request, token)
    if isinstance(found, Response):
        return found
    async with request.app.state.pool.connection() as conn:
        declared = await service.declared_topics(conn, found["sender_id"])
    notice = request.query_params.get("done")
    return _page(request, found, declared, token, notice if notice in NOTICES else None)


def _page(
    request: Request,
    context: Row,
    declared: list[Row],
    token: str,
    notice: str | None,
    status: int = 200,
) -> HTMLResponse:
    settings = _state(request).settings
    stamp = _stamps(settings).sign(
        [context["send_id"]], expires_at=int(time.time()) + FORM_HOURS * 3600
    )
    language = pages.language_for_locale(context["locale"])
    body = pages.render(
        "preferences.html",
        language,
        sender_name=context["sender_name"],
        address=context["address"],
        state=context["state"],
        locale=context["locale"],
        locales=service.locale_choices(context["locale"]),
        topics=service.topic_states(declared, context["properties"]),
        stamp=stamp,
        action=token,
        notice=notice,
    )
    return HTMLResponse(body, status, headers=pages.PAGE_HEADERS)


async def _form(request: Request, context: Row) -> dict[str, Any] | None:
    """The posted form when it is ours: same-site, with a valid stamp for this send."""
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    try:
        values = parse_qs(body.decode("utf-8"), max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        return None
    stamp = (values.get("stamp") or [""])[0]
    checked = _stamps(_state(request).settings).verify(stamp, count=1, now=time.time())
    if checked is None or checked[0] != context["send_id"]:
        return None
    return values


def _refused(request: Request, context: Row) -> HTMLResponse:
    body = pages.render(
        "preferences_refused.html",
        pages.language_for_locale(context["locale"]),
        sender_name=context["sender_name"],
    )
    return HTMLResponse(body, 403, headers=pages.PAGE_HEADERS)


def _back(token: str, notice: str, *, nested: bool = False) -> RedirectResponse:
    # relative, like the unsubscribe page's actions: works under any public base path
    # (from /p/<token>/unsubscribe, the page is ../<token>)
    prefix = "../" if nested else ""
    return RedirectResponse(f"{prefix}{token}?done={notice}", status_code=303)


@router.post("/p/{token}", include_in_schema=False)
async def save_preferences(request: Request, token: str) -> Response:
    """Save the language and topics; a locale not offered shows the page again (400)."""
    found = await _load(request, token)
    if isinstance(found, Response):
        return found
    values = await _form(request, found)
    if values is None:
        return _refused(request, found)
    locale = (values.get("locale") or [found["locale"]])[0]
    chosen = {v.removeprefix("topic:") for v in values.get("topic", [])}
    ip, ua = _client(request)
    async with transaction(request.app.state.pool) as tx:
        change = await service.save(
            tx.conn,
            found,
            locale=locale,
            chosen=chosen,
            ip=ip,
            user_agent=ua,
            language=pages.language_for_locale(found["locale"]),
        )
        declared = await service.declared_topics(tx.conn, found["sender_id"])
    if change is None:
        return _page(request, found, declared, token, "invalid", status=400)
    return _back(token, "saved" if change.changed else "unchanged")


@router.post("/p/{token}/unsubscribe", include_in_schema=False)
async def unsubscribe_everything(request: Request, token: str) -> Response:
    found = await _load(request, token)
    if isinstance(found, Response):
        return found
    if await _form(request, found) is None:
        return _refused(request, found)
    ip, ua = _client(request)
    try:
        async with transaction(request.app.state.pool) as tx:
            result = await events.unsubscribe(
                tx.conn, found["send_id"], source="preferences", ip=ip, user_agent=ua
            )
            if result is not None:
                tx.enqueue(*result.messages)
    except BrokerUnavailable:
        # after COMMIT: stored, and the webhook sweep queues the delivery again
        log.exception("webhook publish failed after unsubscribe")
    return _back(token, "unsubscribed", nested=True)


@router.post("/p/{token}/resubscribe", include_in_schema=False)
async def resubscribe(request: Request, token: str) -> Response:
    found = await _load(request, token)
    if isinstance(found, Response):
        return found
    if await _form(request, found) is None:
        return _refused(request, found)
    ip, ua = _client(request)
    async with transaction(request.app.state.pool) as tx:
        await events.resubscribe(
            tx.conn, found["send_id"], ip=ip, user_agent=ua, source="preferences"
        )
    return _back(token, "resubscribed", nested=True)
