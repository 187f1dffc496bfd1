"""The api service's periodic housekeeping: ``python -m services.api maintenance``.

Each tick (``api_maintenance_interval_s``), in its own short transactions:
- drops API rate-limit windows that ended (``rate_counters`` rows ``api:*``);
- drops Idempotency-Keys older than ``idempotency_ttl_hours``;
- drops ESP signature tokens (Mailgun) seen more than twice ``esp_max_age_seconds`` ago: a
  replay of one carries a timestamp the intake refuses by then anyway;
- re-enqueues webhook deliveries still pending ``webhook_sweep_grace_s`` after their retry
  time: their message was lost (a crash between COMMIT and publish, a purged queue). The actor
  locks the row and skips a delivered one, so a duplicate message is harmless.
One process is enough; two would only do the same idempotent work twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from shared.config import Settings, get_settings
from shared.db import create_pool, transaction
from shared.esp import repository as esp
from shared.idempotency import repository as idempotency
from shared.logging import get_logger
from shared.senders import repository as senders
from shared.webhooks import repository as webhooks
from shared.webhooks.service import deliver_message

log = get_logger(__name__)
SWEEP_BATCH = 1000


@dataclass(frozen=True)
class TickResult:
    """What one tick did (logged, and returned for tests)."""

    rate_windows_purged: int
    idempotency_keys_purged: int
    webhooks_requeued: list[int]
    esp_nonces_purged: int = 0


async def run_once(pool: AsyncConnectionPool, settings: Settings) -> TickResult:
    """One round of housekeeping."""
    async with transaction(pool) as tx:
        windows = await senders.purge_api_rate_counters(tx.conn)
    async with transaction(pool) as tx:
        keys = await idempotency.purge(tx.conn, settings.idempotency_ttl_hours)
    async with transaction(pool) as tx:
        due = await webhooks.due_deliveries(
            tx.conn, grace_s=settings.webhook_sweep_grace_s, limit=SWEEP_BATCH
        )
        for delivery_id in due:
            tx.enqueue(deliver_message(delivery_id))
    async with transaction(pool) as tx:
        nonces = await esp.prune_nonces(tx.conn, 2 * settings.esp_max_age_seconds)
    result = TickResult(windows, keys, due, nonces)
    if windows or keys or due or nonces:
        log.info(
            "maintenance",
            rate_windows_purged=windows,
            idempotency_keys_purged=keys,
            webhooks_requeued=len(due),
            esp_nonces_purged=nonces,
        )
    return result


async def main(stop: asyncio.Event) -> None:
    """Tick until ``stop`` is set; a failed tick is logged and retried next period."""
    settings = get_settings()
    pool = create_pool(settings, name="api-maintenance", max_size=2)
    await pool.open(wait=False)
    try:
        while not stop.is_set():
            try:
                await run_once(pool, settings)
            except Exception as error:
                log.warning("maintenance tick failed", error=f"{type(error).__name__}: {error}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.api_maintenance_interval_s)
    finally:
        await pool.close()
