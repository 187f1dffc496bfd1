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
    forms,
    imports,
    inbound,
    reports,
    retention,
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
    retention.router,
    subscribers.router,
    segments.router,
    automations.router,
    forms.router,
    imports.router,
    emails.router,
    campaigns.router,
    statistics.router,
    reports.router,
    dmarc.router,
    inbound.router,
    users.router,
]
