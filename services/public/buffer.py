"""The in-process buffer of opens, views and clicks.

Recording each open with a database write or a confirmed RabbitMQ publish would cap the pixel
at a few hundred requests a second, so requests only append to a list here; a background task
hands the list to a sink every ``interval`` seconds, or as soon as ``max_events`` are waiting.

What a crash can lose: the events of the last flush interval (100 ms by default) of a process
killed with SIGKILL or by a power cut. SIGTERM and SIGINT flush on shutdown. While the sink
fails (RabbitMQ down) events stay buffered, up to ``max_buffered``; beyond it the oldest are
dropped and counted. Unsubscribes never go through here: they are written before the response.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import Counter, Gauge

from shared import jobs
from shared.events.models import WireEvent
from shared.logging import get_logger

log = get_logger(__name__)

# A sink receives (batch id, events) and must have durably accepted them when it returns.
Sink = Callable[[str, Sequence[WireEvent]], None]

BUFFERED = Counter("tart_public_events_buffered_total", "Events buffered by the public service.")
FLUSHED = Counter("tart_public_events_flushed_total", "Events handed to the events queue.")
DROPPED = Counter("tart_public_events_dropped_total", "Events dropped because the buffer was full.")
PENDING = Gauge("tart_public_events_pending", "Events waiting in this process's buffer.")


class EventBuffer:
    """Collects events and flushes them in batches through a blocking ``sink`` run in one
    dedicated thread (dramatiq's RabbitMQ connection is per thread, so one thread keeps one
    connection)."""

    def __init__(self, sink: Sink, *, interval: float, max_events: int, max_buffered: int) -> None:
        self._sink = sink
        self._interval = interval
        self._max_events = max_events
        self._max_buffered = max_buffered
        self._events: list[WireEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="events-flush")
        self._lock = asyncio.Lock()

    def add(self, event: WireEvent) -> None:
        """Buffer one event (the hot path: an append, no I/O)."""
        self._events.append(event)
        BUFFERED.inc()
        if len(self._events) >= self._max_events:
            self._wake.set()

    def __len__(self) -> int:
        return len(self._events)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-buffer")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                # flush() keeps the events for the next round; back off a little.
                await asyncio.sleep(min(1.0, self._interval * 10))

    async def flush(self) -> int:
        """Hand every buffered event to the sink, in batches of ``max_events``.

        On a sink failure the unsent events go back to the front of the buffer (bounded by
        ``max_buffered``) and the error is raised. Returns the number of events flushed.
        """
        async with self._lock:
            flushed = 0
            loop = asyncio.get_running_loop()
            while self._events:
                batch = self._events[: self._max_events]
                del self._events[: self._max_events]
                try:
                    await loop.run_in_executor(self._executor, self._sink, str(uuid.uuid4()), batch)
                except Exception:
                    self._events[:0] = batch
                    self._trim()
                    PENDING.set(len(self._events))
                    log.exception("event flush failed", pending=len(self._events))
                    raise
                flushed += len(batch)
                FLUSHED.inc(len(batch))
            PENDING.set(0)
            return flushed

    def _trim(self) -> None:
        excess = len(self._events) - self._max_buffered
        if excess > 0:
            del self._events[:excess]
            DROPPED.inc(excess)
            log.error("event buffer full: oldest events dropped", dropped=excess)

    async def close(self) -> None:
        """Stop the background task and flush what is left (called on shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.error("events lost at shutdown", lost=len(self._events))
        self._executor.shutdown(wait=True)


def queue_sink(batch_id: str, events: Sequence[WireEvent]) -> None:
    """The production sink: one ``events.record`` job per batch, publisher-confirmed (no
    transaction here: the batch exists only in this process until RabbitMQ confirms it)."""
    jobs.publish_blocking([jobs.job(jobs.EVENTS_RECORD, batch_id, list(events))])
