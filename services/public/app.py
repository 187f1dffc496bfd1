"""The public service's FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.public import confirm, forms, preferences
from services.public.buffer import EventBuffer, Sink, queue_sink
from services.public.fast import FastLinks
from services.public.links import DATABASE_DOWN, LinkCache
from services.public.routes import database_down, router
from services.public.state import PublicState
from shared.config import Settings, get_settings
from shared.web import create_service_app, trust_proxies


def create_app(settings: Settings | None = None, *, event_sink: Sink | None = None) -> FastAPI:
    """The public link service.

    Parameters:
      settings: defaults to the process settings.
      event_sink: where buffered opens, views and clicks go; defaults to one ``events.record``
        message per batch on the events queue.
    """
    settings = settings or get_settings()
    app = create_service_app("public", settings, title="tart-mailer Public links")
    state = PublicState.from_settings(settings)
    app.state.public = state
    app.include_router(router)
    app.include_router(forms.router)
    app.include_router(confirm.router)
    app.include_router(preferences.router)
    for error in DATABASE_DOWN:
        app.add_exception_handler(error, database_down)
    # The pixel and click paths skip the generic layers; only the trusted proxies' client
    # address (outermost) comes before them, so opens and clicks record the real client.
    app.add_middleware(FastLinks, state=state)
    trust_proxies(app, settings)
    common_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with common_lifespan(app):
            state.links = LinkCache(
                app.state.pool,
                settings.public_link_cache_size,
                wait_seconds=settings.public_db_wait_seconds,
            )
            state.buffer = EventBuffer(
                event_sink or queue_sink,
                interval=settings.public_flush_interval_ms / 1000,
                max_events=settings.public_flush_max_events,
                max_buffered=settings.public_buffer_max_events,
            )
            state.buffer.start()
            try:
                yield
            finally:
                # Flush before the pool and the process go away (SIGTERM, SIGINT).
                await state.buffer.close()

    app.router.lifespan_context = lifespan
    return app
