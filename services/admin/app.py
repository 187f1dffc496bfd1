"""The admin service's FastAPI application: server-rendered pages (Jinja2 + htmx), a strict
Content-Security-Policy, HTML error pages, and the routers of each page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.admin.routes import ROUTERS
from services.admin.sessions import LoginRequired, login_url
from services.admin.templating import render
from shared.config import Settings, get_settings
from shared.errors import AppError
from shared.metrics import APP_ERRORS
from shared.web import create_service_app, trust_proxies

STATIC_DIR = Path(__file__).with_name("static")

# Scripts only from our own static files (no inline script, no eval). Inline styles are allowed
# because email previews (srcdoc iframes inherit this policy) depend on them; the preview
# iframes are sandboxed without allow-scripts, so no script of an email ever runs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_service_app(
        "admin", settings, title="tart-mailer Admin", docs_url=None, redoc_url=None,
        openapi_url=None,
    )  # fmt: skip
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    install_html_errors(app)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    trust_proxies(app, settings)  # outermost: login throttling sees the real client
    return app


def install_html_errors(app: FastAPI) -> None:
    """Errors become HTML pages (htmx gets the same body); a missing session goes to /login."""

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _error: LoginRequired) -> Response:
        target = login_url(request)
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(AppError)
    async def app_error(request: Request, error: AppError) -> Response:
        APP_ERRORS.labels("admin", error.error_type).inc()
        return await render(
            request,
            "error.html",
            {"status": error.status_code, "title": error.error_type, "detail": error.detail},
            status_code=error.status_code,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        return await render(
            request,
            "error.html",
            {"status": error.status_code, "title": "Error", "detail": str(error.detail)},
            status_code=error.status_code,
        )
