"""The admin's pages, one router per page family."""

from __future__ import annotations

from fastapi import APIRouter

from services.admin.routes import (
    auth,
    campaigns,
    dashboard,
    dmarc,
    emails,
    forms,
    imports,
    inbound,
    layouts,
    reports,
    retention,
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
    forms.router,
    imports.router,
    emails.router,
    layouts.router,
    campaigns.router,
    statistics.router,
    reports.router,
    dmarc.router,
    inbound.router,
    users.router,
]
