"""The ``events.record`` actor: writes a batch of buffered opens, views and clicks."""

from __future__ import annotations

import random
from typing import Any

from prometheus_client import Counter

from shared import jobs
from shared.config import get_settings
from shared.db import transaction, worker_pool
from shared.events import service
from shared.logging import get_logger

log = get_logger(__name__)
PRUNE_PROBABILITY = 0.01
RECORDED = Counter(
    "tart_events_recorded_total",
    "Opens, views and clicks recorded, by kind and traffic: human, proxied (a human open through "
    "a mail provider's image proxy) or machine (Apple Mail prefetch, link scanner).",
    ["kind", "traffic"],
)


@jobs.actor(jobs.EVENTS_RECORD, max_retries=20)
async def record(batch_id: str, events: list[list[Any]]) -> None:
    """Record one batch set-based, in one transaction. Idempotent: the batch id is stored with
    the events, so a redelivered message writes nothing."""
    pool = await worker_pool()
    async with transaction(pool) as tx:
        recorded = await service.record_events(
            tx.conn, batch_id, events, scanner_click_seconds=get_settings().scanner_click_seconds
        )
        for message in recorded.messages:
            tx.enqueue(message)
        if random.random() < PRUNE_PROBABILITY:
            await service.prune_batch_ids(tx.conn)
    for (kind, traffic), count in recorded.traffic.items():
        RECORDED.labels(kind, traffic).inc(count)
    log.info(
        "events recorded",
        batch_id=batch_id,
        received=len(events),
        written=recorded.events,
        webhooks=len(recorded.messages),
    )
