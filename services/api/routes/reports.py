"""/v1 sends, statistics, bounces, complaints and DMARC reports (read only)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from services.api.deps import Ctx, Id
from services.api.errors import ERROR_RESPONSES
from services.api.pagination import Cursor, Limit, before_id, id_page
from services.api.schemas.common import Page
from services.api.schemas.reports import (
    DmarcReport,
    DmarcReportDetail,
    Report,
    Send,
    SendDetail,
    Statistics,
)
from shared.dmarc import repository as dmarc
from shared.emails import repository as emails
from shared.errors import NotFound
from shared.statistics import repository as stats
from shared.statistics import service as statistics
from shared.subscribers import repository as subscribers

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
SendState = Literal["queued", "sending", "sent", "failed", "cancelled"]


@router.get(
    "/emails/{email_id:int}/sends",
    response_model=Page[Send],
    tags=["sends"],
    summary="Sends of an email",
)
async def email_sends(
    email_id: Id,
    ctx: Ctx,
    limit: Limit = 100,
    cursor: Cursor = None,
    state: SendState | None = None,
) -> Any:
    if await emails.get_email(ctx.conn, ctx.sender_id, email_id) is None:
        raise NotFound("no such email")
    rows = await stats.list_sends(
        ctx.conn,
        ctx.sender_id,
        email_id=email_id,
        state=state,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return id_page(rows, limit)


@router.get(
    "/subscribers/{subscriber_id:int}/sends",
    response_model=Page[Send],
    tags=["sends"],
    summary="Sends to a subscriber",
)
async def subscriber_sends(
    subscriber_id: Id, ctx: Ctx, limit: Limit = 100, cursor: Cursor = None
) -> Any:
    if await subscribers.get(ctx.conn, ctx.sender_id, subscriber_id) is None:
        raise NotFound("no such subscriber")
    rows = await stats.list_sends(
        ctx.conn,
        ctx.sender_id,
        subscriber_id=subscriber_id,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return id_page(rows, limit)


@router.get(
    "/sends/{send_id:int}",
    response_model=SendDetail,
    tags=["sends"],
    summary="A send with its events and reports",
)
async def get_send(send_id: Id, ctx: Ctx) -> Any:
    row = await stats.get_send(ctx.conn, ctx.sender_id, send_id)
    if row is None:
        raise NotFound("no such send")
    return row


@router.get(
    "/emails/{email_id:int}/statistics",
    response_model=Statistics,
    tags=["statistics"],
    summary="Statistics per email, variation, locale and day",
)
async def email_statistics(
    email_id: Id, ctx: Ctx, machine_events: Literal["include", "exclude"] = "exclude"
) -> Any:
    """Counts of the email's sends in total, per variation, per locale and per UTC day of
    sending; clicks per link and variation; and the A/B test's decision with its sample and
    margin (or, while it runs, what it would decide now).

    Opens and clicks are human. An open through Gmail's or Yahoo's image proxy is human and
    counted in ``proxied_*`` too; Apple Mail Privacy Protection prefetches and link scanners are
    machine events, counted in ``machine_opens`` / ``machine_clicks`` and, with
    ``machine_events=include``, added to the others. Senders with anonymous tracking are counted
    the same way."""
    email = await emails.get_email(ctx.conn, ctx.sender_id, email_id)
    if email is None:
        raise NotFound("no such email")
    result = await statistics.email_report(
        ctx.conn, ctx.sender_id, email, include_machine=machine_events == "include"
    )
    return {"email_id": email_id, "machine_events": machine_events, **result}


@router.get("/bounces", response_model=Page[Report], tags=["reports"], summary="Bounces")
async def list_bounces(ctx: Ctx, limit: Limit = 100, cursor: Cursor = None) -> Any:
    rows = await stats.list_reports(
        ctx.conn, ctx.sender_id, kind="bounce", before_id=before_id(cursor), limit=limit + 1
    )
    return id_page(rows, limit)


@router.get("/complaints", response_model=Page[Report], tags=["reports"], summary="Complaints")
async def list_complaints(ctx: Ctx, limit: Limit = 100, cursor: Cursor = None) -> Any:
    rows = await stats.list_reports(
        ctx.conn, ctx.sender_id, kind="arf", before_id=before_id(cursor), limit=limit + 1
    )
    return id_page(rows, limit)


@router.get(
    "/dmarc/reports",
    response_model=Page[DmarcReport],
    tags=["reports"],
    summary="DMARC aggregate reports about the sender's domains",
)
async def list_dmarc(ctx: Ctx, limit: Limit = 100, cursor: Cursor = None) -> Any:
    rows = await dmarc.sender_reports(
        ctx.conn, ctx.sender_id, before_id=before_id(cursor), limit=limit + 1
    )
    return id_page(rows, limit)


@router.get(
    "/dmarc/reports/{report_id:int}",
    response_model=DmarcReportDetail,
    tags=["reports"],
    summary="One DMARC aggregate report with its records",
)
async def get_dmarc(report_id: Id, ctx: Ctx) -> Any:
    row = await dmarc.sender_report(ctx.conn, ctx.sender_id, report_id)
    if row is None:
        raise NotFound("no such report")
    return row
