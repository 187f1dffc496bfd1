"""Inbound messages to review (not understood, failed, quarantined) and the reprocess action.
Inbound mail is not tied to a sender until it is parsed, so these pages are for owners."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.sessions import MAX_ID, OwnerAdmin, pool_of
from services.admin.templating import render
from shared import broker
from shared.db import transaction
from shared.errors import NotFound
from shared.inbound import repository as inbound
from shared.inbound.reprocess import reprocess as reprocess_inbound

router = APIRouter(prefix="/inbound")


@router.get("")
async def review(request: Request, admin: OwnerAdmin) -> Response:
    before = request.query_params.get("before", "")
    before_id = int(before) if before.isdigit() and int(before) < MAX_ID else None
    async with pool_of(request).connection() as conn:
        rows = await inbound.review(conn, before_id=before_id)
    context = {"rows": rows, "next_before": rows[-1]["id"] if len(rows) == 50 else None}
    return await render(request, "inbound/list.html", context)


@router.get("/{inbound_id}")
async def message(request: Request, admin: OwnerAdmin, inbound_id: int) -> Response:
    if not 0 < inbound_id < MAX_ID:
        raise NotFound("no such message")
    async with pool_of(request).connection() as conn:
        row = await inbound.preview(conn, inbound_id)
    if row is None:
        raise NotFound("no such message")
    row["text"] = bytes(row["raw"]).decode("utf-8", errors="replace")
    return await render(request, "inbound/detail.html", {"message": row})


@router.post("/{inbound_id}/reprocess")
async def reprocess(request: Request, admin: OwnerAdmin, inbound_id: int) -> Response:
    if not 0 < inbound_id < MAX_ID:
        raise NotFound("no such message")
    async with transaction(pool_of(request), broker.publish) as tx:
        for queued in await reprocess_inbound(tx.conn, ids=[inbound_id]):
            tx.enqueue(queued)
    return RedirectResponse(f"/inbound/{inbound_id}?notice=reprocess", status_code=303)
