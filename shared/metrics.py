"""Prometheus metrics shared by the services, and the ``/metrics`` endpoint.

Worker processes run under dramatiq's multiprocess collector (``PROMETHEUS_MULTIPROC_DIR``);
web processes use the default registry.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

HTTP_LATENCY = Histogram(
    "tart_http_request_seconds",
    "HTTP request latency by service, route and status.",
    ["service", "route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
APP_ERRORS = Counter(
    "tart_http_client_errors_total", "Client errors answered, by type.", ["service", "error"]
)

RESPONSES = Counter(
    "tart_responses_total",
    "New bounces and complaints recorded by the one response policy, whichever path reported "
    "them (smtp reply, inbound DSN/ARF, ESP event); final is false for a delay notice.",
    ["kind", "hard_or_soft", "final"],
)
WORKER_BOOTS = Counter("tart_worker_process_boots_total", "dramatiq worker processes started.")
QUEUE_LAG = Histogram(
    "tart_queue_lag_seconds",
    "Time a message waited in RabbitMQ before a worker started it (after its delay, if any).",
    ["queue_name"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600),
)


def metrics_response() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def latency_middleware(
    service: str,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Record latency by route template (not raw path, which would explode the label set)."""

    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        HTTP_LATENCY.labels(service, template, request.method, str(response.status_code)).observe(
            time.perf_counter() - start
        )
        return response

    return middleware
