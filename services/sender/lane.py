"""The priority lane inside one sender worker process.

Threads of its own. An async dramatiq actor holds its worker thread until it returns, and a bulk
batch holds one for a second or more; with every thread on a campaign, a transactional message
would wait for one to come free (3 s at the 95th percentile on a loaded 2-core machine, measured
with bench/transactional.py, whatever the actor priorities). So every sender worker process
consumes the ``send_priority`` queue with threads that take nothing else (``PriorityLane``,
TART_PRIORITY_THREADS), beside dramatiq's own threads for the bulk queues. The lane is added by
services/sender/actors.py, so it runs wherever the sender's actors run (Procfile, compose,
Kubernetes, tests); the command line lists only the bulk queues.

dramatiq runs every async actor of a process on one event loop, so a transactional send and the
bulk batches in flight share that loop: a bulk batch composes messages (CPU work) between its
awaits, and a send.priority message would wait for every bulk batch's turn at each of its own
awaits (claim, compose, SMTP reply, record), each turn costing up to 16 composed messages per
bulk batch in flight (batch.py yields every 16).

So while a priority message is being worked on in this process, bulk batches pause before each
message they compose (for at most ``MAX_PAUSE_SECONDS`` at a time, so a steady stream of
transactional mail slows a campaign but never stops it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from queue import PriorityQueue
from typing import Any

import dramatiq
from dramatiq.common import dq_name, iter_queue, join_all
from dramatiq.worker import ConsumerThread, WorkerThread

from shared.logging import get_logger

log = get_logger(__name__)

MAX_PAUSE_SECONDS = 0.25


class PriorityGate:
    """Counts priority work in flight on this process's loop; bulk work yields to it."""

    def __init__(self) -> None:
        self.active = 0
        self._clear: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._clear is None:
            self._clear = asyncio.Event()
            self._clear.set()
        return self._clear

    @asynccontextmanager
    async def priority(self) -> AsyncIterator[None]:
        """Around a priority message's work."""
        self.active += 1
        self._event().clear()
        try:
            yield
        finally:
            self.active -= 1
            if self.active == 0:
                self._event().set()

    async def yield_to_priority(self, max_wait: float = MAX_PAUSE_SECONDS) -> None:
        """Bulk work calls this between messages: returns at once when no priority work is in
        flight, else when it is done or after ``max_wait`` seconds."""
        if not self.active:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event().wait(), max_wait)


GATE = PriorityGate()


class PriorityLane(dramatiq.Middleware):
    """Consumers and worker threads for one queue that dramatiq's own worker does not consume,
    started and stopped with it (the same steps as ``dramatiq.Worker``'s start and stop: the
    queue's consumer and its delay-queue consumer feed a work queue of their own, and on
    shutdown the threads finish their messages, then what is still prefetched is requeued)."""

    def __init__(self, queue_name: str, threads: int) -> None:
        self.queue_name = queue_name
        self.threads = threads
        self.consumers: dict[str, ConsumerThread] = {}
        self.workers: list[WorkerThread] = []
        self.work_queue: PriorityQueue[Any] = PriorityQueue()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.queue_name in worker.consumers:  # the command line named it: nothing to add
            return
        for name, prefetch in ((self.queue_name, self.threads * 2),
                               (dq_name(self.queue_name), self.threads * 1000)):  # fmt: skip
            consumer = ConsumerThread(
                broker=broker, queue_name=name, prefetch=prefetch,
                work_queue=self.work_queue, worker_timeout=worker.worker_timeout,
            )  # fmt: skip
            consumer.start()
            self.consumers[name] = consumer
        for _ in range(self.threads):
            thread = WorkerThread(
                broker=broker, consumers=self.consumers, work_queue=self.work_queue,
                worker_timeout=worker.worker_timeout,
            )  # fmt: skip
            thread.start()
            self.workers.append(thread)
        log.info("priority lane started", queue=self.queue_name, threads=self.threads)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if not self.workers:
            return
        timeout = worker.worker_timeout * 10
        for thread in self.workers:
            thread.stop()
        join_all(self.workers, timeout)  # type: ignore[no-untyped-call]
        for consumer in self.consumers.values():
            consumer.stop()
        join_all(self.consumers.values(), timeout)  # type: ignore[no-untyped-call]
        by_queue: dict[str, list[Any]] = defaultdict(list)
        for item in iter_queue(self.work_queue):  # type: ignore[no-untyped-call]
            by_queue[item.message.queue_name].append(item.message)
        for name, messages in by_queue.items():
            try:
                self.consumers[name].requeue_messages(messages)
            except Exception:  # RabbitMQ away: unacked messages return when the channel closes
                log.warning("priority lane: requeue failed", queue=name, exc_info=True)
        for consumer in self.consumers.values():
            consumer.close()
        self.workers.clear()
        self.consumers.clear()
