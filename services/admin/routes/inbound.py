"""Inbound messages to review (not understood, failed, quarantined) and the reprocess action.
Inbound mail is not tied to a sender until it is parsed, so these pages are for owners."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.sessions import OwnerAdmin, Tx
from services.admin.templating import render
from shared.errors import NotFound
from shared.inbound import repository as inbound
from shared.inbound.reprocess import reprocess as reprocess_inbound
from shared.limits import valid_id

router = APIRouter(prefix="/inbound")


@router.get("")
async def review(request: Request, admin: OwnerAdmin, tx: Tx) -> Response:
    before = request.query_params.get("before", "")
    before_id = int(before) if before.isdigit() and valid_id(int(before)) else None
    rows = await inbound.review(tx.conn, before_id=before_id)
    context = {"rows": rows, "next_before": rows[-1]["id"] if len(rows) == 50 else None}
    return await render(request, "inbound/list.html", context)


@router.get("/{inbound_id}")
async def message(request: Request, admin: OwnerAdmin, inbound_id: int, tx: Tx) -> Response:
    if not valid_id(inbound_id):
        raise NotFound("no such message")
    row = await inbound.preview(tx.conn, inbound_id)
    if row is None:
        raise NotFound("no such message")
    row["text"] = bytes(row["raw"]).decode("utf-8", errors="replace")
    return await render(request, "inbound/detail.html", {"message": row})


@router.post("/{inbound_id}/reprocess")
async def reprocess(request: Request, admin: OwnerAdmin, inbound_id: int, tx: Tx) -> Response:
    if not valid_id(inbound_id):
        raise NotFound("no such message")
    tx.enqueue(*await reprocess_inbound(tx.conn, ids=[inbound_id]))
    return RedirectResponse(f"/inbound/{inbound_id}?notice=reprocess", status_code=303)
