"""The dashboard: senders with counts, running campaigns, recent bounces, DMARC pass rates."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.admin.sessions import CurrentAdmin, pool_of
from services.admin.templating import render
from shared.admins import dashboard

router = APIRouter()


@router.get("/")
async def index(request: Request, admin: CurrentAdmin) -> Response:
    async with pool_of(request).connection() as conn:
        data = await dashboard.overview(conn, admin.id, admin.is_owner)
    return await render(request, "dashboard.html", data)


@router.get("/campaigns/progress")
async def campaigns_progress(request: Request, admin: CurrentAdmin) -> Response:
    """The running-campaigns table alone, polled by htmx every few seconds."""
    async with pool_of(request).connection() as conn:
        campaigns = await dashboard.running_campaigns(conn, admin.id, admin.is_owner)
    return await render(request, "_campaigns_table.html", {"campaigns": campaigns})
