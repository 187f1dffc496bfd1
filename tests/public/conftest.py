"""Fixtures of the public link service: committed rows, the app with its lifespan running, and
an event sink that keeps batches so a test can record them through the real service code."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from services.public.app import create_app
from shared.config import Settings
from shared.events import service
from shared.events.models import WireEvent
from shared.tokens import codec_from_settings_secrets
from tests.public.forms_world import shop, site  # noqa: F401 - fixtures of the form tests
from tests.public.world import World, drop_world, make_world


def record_queued_events() -> None:
    """Run the ``events.record`` actor in this process until the real events queue is empty.

    The worker consumes that queue only: one on every queue the broker knows would also take
    other tests' campaign and send messages and reject them (this process has no such actors).
    """
    import dramatiq

    from services.public import actors
    from shared.broker import get_broker

    broker = get_broker()
    worker = dramatiq.Worker(
        broker, queues={actors.record.queue_name}, worker_threads=1, worker_timeout=100
    )
    worker.start()
    try:
        broker.join(actors.record.queue_name, timeout=30_000)
        worker.join()
    finally:
        worker.stop()


class CollectingSink:
    """Stands in for the events queue only: keeps (batch id, events); ``record`` then writes
    them with the same service call the ``events.record`` actor makes."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[WireEvent]]] = []
        self._lock = threading.Lock()

    def __call__(self, batch_id: str, events: Sequence[WireEvent]) -> None:
        with self._lock:
            self.batches.append((batch_id, list(events)))

    async def record(self, pool: AsyncConnectionPool, settings: Settings) -> int:
        with self._lock:
            batches, self.batches = self.batches, []
        written = 0
        for batch_id, events in batches:
            async with pool.connection() as conn, conn.transaction():
                recorded = await service.record_events(
                    conn, batch_id, events, scanner_click_seconds=settings.scanner_click_seconds
                )
                written += recorded.events
        return written


class Public:
    """The running app, its HTTP client, and a way to push buffered events into the database."""

    def __init__(self, app: Any, client: httpx.AsyncClient, sink: CollectingSink,
                 pool: AsyncConnectionPool, settings: Settings) -> None:  # fmt: skip
        self.app, self.client, self.sink, self.pool, self.settings = (
            app,
            client,
            sink,
            pool,
            settings,
        )
        secrets = [s.get_secret_value() for s in settings.token_secrets]
        self.codec = codec_from_settings_secrets(secrets)

    def token(self, send_id: int) -> str:
        return self.codec.encode(send_id)

    async def record(self) -> int:
        """Flush the app's buffer and write what it held; returns the events written."""
        await self.app.state.public.buffer.flush()
        return await self.sink.record(self.pool, self.settings)


@pytest.fixture
async def public(settings: Settings, pool: AsyncConnectionPool) -> AsyncIterator[Public]:
    sink = CollectingSink()
    app = create_app(settings, event_sink=sink)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="https://links.example.com",
            headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
        ) as client:
            yield Public(app, client, sink, pool, settings)


@pytest.fixture
def world_factory(settings: Settings) -> Iterator[Callable[..., World]]:
    made: list[World] = []

    def factory(**kwargs: Any) -> World:
        world = make_world(settings.database_url, **kwargs)
        made.append(world)
        return world

    yield factory
    for world in made:
        drop_world(world)


@pytest.fixture
def world(world_factory: Callable[..., World]) -> World:
    return world_factory()
