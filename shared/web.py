"""What the three web services share: health and readiness, metrics, error rendering, the
correlation id of each request, and the client's address behind trusted proxies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from psycopg_pool import AsyncConnectionPool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared import broker as broker_module
from shared import db
from shared.config import Settings, get_settings
from shared.errors import AppError
from shared.logging import configure_logging, correlation_id, get_logger, new_correlation_id
from shared.metrics import APP_ERRORS, latency_middleware, metrics_response

log = get_logger(__name__)
REQUEST_ID_HEADER = "X-Request-ID"


async def check_readiness(pool: AsyncConnectionPool, settings: Settings) -> dict[str, str]:
    """Ask PostgreSQL and RabbitMQ in parallel; returns the name of each that is down."""

    async def database() -> None:
        await asyncio.wait_for(db.ping(pool), timeout=3)

    async def rabbitmq() -> None:
        await asyncio.wait_for(
            asyncio.to_thread(broker_module.ping, settings.amqp_url, 2.0), timeout=3
        )

    results = await asyncio.gather(database(), rabbitmq(), return_exceptions=True)
    down = {}
    for name, result in zip(("database", "broker"), results, strict=True):
        if isinstance(result, BaseException):
            down[name] = type(result).__name__ + (f": {result}" if str(result) else "")
    return down


def install_common(
    app: FastAPI,
    *,
    service: str,
    settings: Settings,
    pool: Callable[[], AsyncConnectionPool],
) -> None:
    """Mount /healthz, /readyz and /metrics, the AppError handler and the request-id middleware."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        down = await check_readiness(pool(), settings)
        if down:
            log.warning("not ready", down=down)
            return JSONResponse({"status": "unavailable", "down": down}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return metrics_response()

    @app.exception_handler(AppError)
    async def app_error(_request: Request, error: AppError) -> JSONResponse:
        APP_ERRORS.labels(service, error.error_type).inc()
        return JSONResponse(error.as_dict(), status_code=error.status_code, headers=error.headers)

    app.middleware("http")(latency_middleware(service))

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        cid = incoming if 8 <= len(incoming) <= 64 and incoming.isalnum() else new_correlation_id()
        token = correlation_id.set(cid)
        structlog.contextvars.bind_contextvars(correlation_id=cid)
        try:
            response = await call_next(request)
        finally:
            correlation_id.reset(token)
            structlog.contextvars.unbind_contextvars("correlation_id")
        response.headers[REQUEST_ID_HEADER] = cid
        return response


def trust_proxies(app: FastAPI, settings: Settings) -> None:
    """Make the client's address (``request.client``, the ASGI scope's ``client``) the one the
    trusted proxies name in X-Forwarded-For, and the scheme the one in X-Forwarded-Proto, when
    the connection comes from one of ``TART_TRUSTED_PROXIES``. The header is read from the right:
    the first address that is not a trusted proxy is the client, so what a client wrote at the
    left of it is never believed. From any other peer the headers are ignored.

    Call it last when building an app, so it is the outermost middleware and everything inside
    (routes, the public service's fast paths) sees the real client. uvicorn's own proxy-header
    handling is off (``serve``), so this is the one place."""
    if settings.trusted_proxies:
        trusted = [str(network) for network in settings.trusted_proxies]
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)


def create_service_app(service: str, settings: Settings, **fastapi_kwargs: object) -> FastAPI:
    """A FastAPI app with a PostgreSQL pool (``app.state.pool``) opened in the lifespan.

    The pool opens without waiting, so the process starts and answers /healthz while PostgreSQL
    is still down; /readyz tells the orchestrator when it is usable.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = db.create_pool(settings, name=service)
        await pool.open(wait=False)
        app.state.pool = pool
        app.state.settings = settings
        log.info("started", service=service)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan, **fastapi_kwargs)  # type: ignore[arg-type]
    install_common(app, service=service, settings=settings, pool=lambda: app.state.pool)
    return app


def serve(factory: str, *, service: str, port: int, workers: int = 1) -> None:
    """Run a web service under uvicorn (uvloop + httptools), logging through structlog."""
    settings = get_settings()
    configure_logging(settings, service)
    uvicorn.run(
        factory,
        factory=True,
        host=settings.bind_host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # trust_proxies() in the app reads them, from trusted peers only
        server_header=False,
        timeout_graceful_shutdown=20,
    )
