"""The dashboard: senders with counts, running campaigns, recent bounces, DMARC pass rates."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.admin.sessions import CurrentAdmin, Tx
from services.admin.templating import render
from shared.admins import dashboard

router = APIRouter()


@router.get("/")
async def index(request: Request, admin: CurrentAdmin, tx: Tx) -> Response:
    data = await dashboard.overview(tx.conn, admin.id, admin.is_owner)
    return await render(request, "dashboard.html", data)


@router.get("/campaigns/progress")
async def campaigns_progress(request: Request, admin: CurrentAdmin, tx: Tx) -> Response:
    """The running-campaigns table alone, polled by htmx every few seconds."""
    campaigns = await dashboard.running_campaigns(tx.conn, admin.id, admin.is_owner)
    return await render(request, "_campaigns_table.html", {"campaigns": campaigns})
