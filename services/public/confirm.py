"""The double opt-in confirmation pages. The link carries a signed, expiring token (confirmation
id and subscriber id); its GET shows a button and changes nothing, so a link scanner confirms
nobody; only the POST confirms, writes the consent record and queues the welcome email."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.public import pages
from services.public.forms import translate
from shared.config import Settings
from shared.consent import service as consent
from shared.db import Row, transaction
from shared.errors import BrokerUnavailable
from shared.logging import get_logger
from shared.optin import mail
from shared.optin import repository as optin_repo
from shared.optin import service as optin

log = get_logger(__name__)
router = APIRouter()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _client(request: Request) -> tuple[str | None, str | None]:
    ip = request.client.host if request.client else None
    return ip, request.headers.get("user-agent")


def confirm_text(row: Row, language: str) -> str:
    """The words of the confirmation page (hashed into the ``confirm`` consent record)."""
    values = {"sender": row["sender_name"], "address": row["address"]}
    return "\n".join(
        translate(language, msgid) % values
        for msgid in (
            "Confirm your subscription to %(sender)s",
            "Press the button to receive emails from %(sender)s at %(address)s.",
            "Confirm my subscription",
        )
    )


def _confirm_target(request: Request, token: str) -> tuple[int, int] | None:
    values = mail.codec(_settings(request)).verify(token, count=2, now=time.time())
    return (values[0], values[1]) if values else None


def _invalid_link(request: Request) -> HTMLResponse:
    language = pages.language_for_accept(request.headers.get("accept-language"))
    body = pages.render("optin_invalid.html", language, sender_name=None)
    return HTMLResponse(body, 404, headers=pages.PAGE_HEADERS)


@router.get("/confirm/{token}", include_in_schema=False)
async def confirm_page(request: Request, token: str) -> Response:
    """The confirmation page with its button; a GET never confirms (scanners follow links)."""
    target = _confirm_target(request, token)
    if target is None:
        return _invalid_link(request)
    wait = _settings(request).public_db_wait_seconds
    async with request.app.state.pool.connection(timeout=wait) as conn:
        row = await optin_repo.confirmation_page(conn, *target)
    if row is None:
        return _invalid_link(request)
    body = pages.render(
        "optin_confirm.html",
        mail.language_of(row["locale"]),
        sender_name=row["sender_name"],
        address=row["address"],
        action=token,
    )
    return HTMLResponse(body, headers=pages.PAGE_HEADERS)


@router.post("/confirm/{token}", include_in_schema=False)
async def confirm(request: Request, token: str) -> Response:
    """Confirm: the subscriber becomes active and the welcome email is queued (once)."""
    target = _confirm_target(request, token)
    if target is None:
        return _invalid_link(request)
    pool = request.app.state.pool
    async with pool.connection() as conn:
        row = await optin_repo.confirmation_page(conn, *target)
        await conn.rollback()
    if row is None:
        return _invalid_link(request)
    ip, ua = _client(request)
    proof = consent.text_hash(confirm_text(row, mail.language_of(row["locale"])))
    try:
        async with transaction(pool) as tx:
            done = await optin.confirm(tx, *target, ip=ip, user_agent=ua, text_hash=proof)
            confirmed = done is not None
    except BrokerUnavailable:
        # committed: the welcome send row is queued and the scheduler's sweep sends it
        log.exception("welcome email not published", subscriber_id=target[1])
        confirmed = True
    if not confirmed:
        return _invalid_link(request)
    body = pages.render(
        "optin_confirmed.html", mail.language_of(row["locale"]), sender_name=row["sender_name"]
    )
    return HTMLResponse(body, headers=pages.PAGE_HEADERS)
