"""The api service's FastAPI application."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.base import BaseHTTPMiddleware

from services.api.errors import install_error_handlers
from services.api.middleware import BodyGuard, RequestContext
from services.api.ratelimit import RateLimiter
from services.api.routes import (
    automations,
    dkim,
    emails,
    esp,
    forms,
    privacy,
    reports,
    segments,
    sender,
    sending,
    subscribers,
    transactional,
)
from shared.config import Settings, get_settings
from shared.web import create_service_app, trust_proxies

DESCRIPTION = """
REST API for integrators. Authenticate with `Authorization: Bearer <key>`, or HTTP Basic with the
sender address as user name and the key as password. Every object belongs to the key's sender;
another sender's object is a 404. Errors are `{"error": "<Type>", "detail": "..."}`.
Lists use cursor pagination: pass `next_cursor` back as `cursor`.
POSTs that create or send accept an `Idempotency-Key` header (not key creation: a key is shown
once and never stored). Each key has its own limit of requests a minute (429 with Retry-After
beyond it); a key that may manage keys creates the sender's other keys, never with more than its
own limit.
Webhook deliveries carry `X-Tart-Timestamp` and `X-Tart-Signature: v1=<hex HMAC-SHA256 of
"<timestamp>.<body>" with the webhook secret>`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_service_app(
        "api", settings, title="tart-mailer REST API", version="1.0.0", description=DESCRIPTION
    )
    install_error_handlers(app)
    for module in (
        sender,
        dkim,
        esp,
        subscribers,
        privacy,
        emails,
        sending,
        transactional,
        reports,
        forms,
        segments,
        automations,
    ):
        app.include_router(module.router)
    # swap the shared BaseHTTPMiddleware pair for the pure-ASGI equivalent (see RequestContext)
    app.user_middleware = [
        m
        for m in app.user_middleware
        if m.cls is not BaseHTTPMiddleware  # type: ignore[comparison-overlap]
    ]
    app.add_middleware(
        BodyGuard,
        max_bytes=settings.api_max_body_bytes,
        stream_paths={subscribers.IMPORT_PATH: settings.api_max_import_bytes},
    )
    app.add_middleware(RequestContext, service="api")  # times the body guard too
    trust_proxies(app, settings)  # outermost: the client's address for everything inside

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            }
            schema["security"] = [{"bearer": []}, {"basic": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.rate_limiter = RateLimiter(chunk_share=settings.api_rate_chunk_share)
    return app
