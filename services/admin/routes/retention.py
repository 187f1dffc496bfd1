"""A sender's retention limits: how long events, raw inbound mail and webhook logs are kept."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.forms import read_form
from services.admin.sessions import SenderId, Tx
from services.admin.templating import render
from shared.privacy import retention

router = APIRouter(prefix="/senders/{sender_id}/retention")
FIELDS = ("events_days", "inbound_days", "webhook_days")
MAX_DAYS = 36500


@router.get("")
async def retention_page(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    row = await retention.get_settings(tx.conn, sender_id) or {}
    values = {name: "" if row.get(name) is None else str(row[name]) for name in FIELDS}
    return await render(
        request, "senders/retention.html", {"values": values, "errors": {}}, sender_id=sender_id
    )


@router.post("")
async def save_retention(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    form = await read_form(request)
    days = {name: form.integer(name, minimum=1, maximum=MAX_DAYS) for name in FIELDS}
    if form.ok:
        await retention.set_settings(tx.conn, sender_id, **days)
        return RedirectResponse(f"/senders/{sender_id}/retention?notice=saved", status_code=303)
    return await render(
        request,
        "senders/retention.html",
        {"values": form.values, "errors": form.errors},
        sender_id=sender_id,
        status_code=400,
    )
