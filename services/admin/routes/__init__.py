"""The admin's pages, one router per page family."""

from __future__ import annotations

from fastapi import APIRouter

from services.admin.routes import (
    auth,
    automations,
    campaigns,
    dashboard,
    dmarc,
    emails,
    imports,
    inbound,
    reports,
    segments,
    senders,
    statistics,
    subscribers,
    users,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    dashboard.router,
    senders.router,
    subscribers.router,
    segments.router,
    automations.router,
    imports.router,
    emails.router,
    campaigns.router,
    statistics.router,
    reports.router,
    dmarc.router,
    inbound.router,
    users.router,
]
