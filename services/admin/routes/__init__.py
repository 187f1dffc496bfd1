"""The admin's pages, one router per page family."""

from __future__ import annotations

from fastapi import APIRouter

from services.admin.routes import (
    audit,
    auth,
    automations,
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
    segments,
    senders,
    sso,
    statistics,
    subscribers,
    users,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    sso.router,
    audit.router,
    dashboard.router,
    senders.router,
    retention.router,
    subscribers.router,
    segments.router,
    automations.router,
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
