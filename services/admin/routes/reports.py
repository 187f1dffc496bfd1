"""Bounces and complaints of a sender, each with the original message it returned."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.admin.sessions import SenderId, Tx
from services.admin.templating import render
from shared.db import Conn
from shared.errors import NotFound
from shared.limits import valid_id
from shared.responses import repository as responses
from shared.statistics import repository as statistics

router = APIRouter(prefix="/senders/{sender_id}")
PAGE = 50


async def _list(request: Request, conn: Conn, sender_id: int, kind: str, title: str) -> Response:
    before = request.query_params.get("before", "")
    before_id = int(before) if before.isdigit() and valid_id(int(before)) else None
    rows = await statistics.list_reports(
        conn, sender_id, kind=kind, before_id=before_id, limit=PAGE
    )
    context = {
        "rows": rows,
        "title": title,
        "kind": kind,
        "next_before": rows[-1]["id"] if len(rows) == PAGE else None,
    }
    return await render(request, "reports/list.html", context, sender_id=sender_id)


@router.get("/bounces")
async def bounces(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    return await _list(request, tx.conn, sender_id, "bounce", "Bounces")


@router.get("/complaints")
async def complaints(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    return await _list(request, tx.conn, sender_id, "arf", "Complaints")


@router.get("/reports/{report_id}")
async def report(request: Request, sender_id: SenderId, report_id: int, tx: Tx) -> Response:
    if not valid_id(report_id):
        raise NotFound("no such report")
    row = await responses.report_detail(tx.conn, sender_id, report_id)
    if row is None:
        raise NotFound("no such report")
    return await render(request, "reports/detail.html", {"report": row}, sender_id=sender_id)
