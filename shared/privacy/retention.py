"""Retention: purge what a sender keeps no longer than it chose (db/0102), in batches.

Called from the scheduler's sweep. Each batch is one set-based statement in its own short
transaction, taking its rows with SKIP LOCKED, so a purge never holds long locks nor blocks the
event writer; a sweep stops after ``MAX_BATCHES`` batches per kind of data and the next sweep
goes on. Events are rolled up into ``send_event_rollups`` in the statement that deletes them,
so statistics read the same before and after (``shared/statistics`` adds the roll-ups).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from shared.config import Settings
from shared.db import SQL, Conn, Row, fetch_all, fetch_one, load_queries, transaction
from shared.logging import get_logger

log = get_logger(__name__)
Q = load_queries(__file__, "retention.sql")
BATCH = 5000
MAX_BATCHES = 20
INBOUND_KINDS = [
    "bounce", "dsn_success", "arf", "autoreply", "not_bounce", "dmarc_aggregate",
    "dmarc_failure", "smtp_tls", "unsubscribe", "invalid", "unknown",
]  # fmt: skip


@dataclass
class Purged:
    """What one run removed."""

    events: int = 0
    inbound: int = 0
    webhooks: int = 0


async def _batches(
    pool: AsyncConnectionPool, query: SQL, params: dict[str, object], batch: int
) -> int:
    """Run a one-batch statement until a batch comes back short or MAX_BATCHES ran; returns
    the rows it purged."""
    total = 0
    for _ in range(MAX_BATCHES):
        async with transaction(pool) as tx:
            cur = await tx.conn.execute(query.sql, {**params, "batch": batch})
            if cur.description:  # roll_up_events answers with its count
                row = await cur.fetchone()
                done = int(row["purged"]) if row else 0
            else:
                done = cur.rowcount
        total += done
        if done < batch:
            break
    return total


async def run(pool: AsyncConnectionPool, settings: Settings, *, batch: int = BATCH) -> Purged:
    """One retention pass over every sender with a limit, and raw mail tied to no sender."""
    now = datetime.now(UTC)
    purged = Purged()
    async with pool.connection() as conn:
        senders = await fetch_all(conn, Q.senders_with_retention)
        await conn.rollback()
    for sender in senders:
        sender_id = sender["id"]
        if sender["retention_events_days"]:
            cutoff = now - timedelta(days=sender["retention_events_days"])
            purged.events += await _batches(
                pool, Q.roll_up_events, {"sender_id": sender_id, "cutoff": cutoff}, batch
            )
        if sender["retention_inbound_days"]:
            cutoff = now - timedelta(days=sender["retention_inbound_days"])
            purged.inbound += await _batches(
                pool,
                Q.purge_sender_inbound,
                {"sender_id": sender_id, "cutoff": cutoff, "kinds": INBOUND_KINDS},
                batch,
            )
        if sender["retention_webhook_days"]:
            cutoff = now - timedelta(days=sender["retention_webhook_days"])
            purged.webhooks += await _batches(
                pool,
                Q.purge_webhook_deliveries,
                {"sender_id": sender_id, "cutoff": cutoff},
                batch,
            )
    if settings.retention_inbound_days:
        cutoff = now - timedelta(days=settings.retention_inbound_days)
        purged.inbound += await _batches(
            pool,
            Q.purge_unattributed_inbound,
            {"cutoff": cutoff, "kinds": INBOUND_KINDS},
            batch,
        )
    if purged.events or purged.inbound or purged.webhooks:
        log.info(
            "retention purge",
            events=purged.events,
            inbound=purged.inbound,
            webhooks=purged.webhooks,
        )
    return purged


async def get_settings(conn: Conn, sender_id: int) -> Row | None:
    """``events_days``, ``inbound_days``, ``webhook_days`` (None keeps for ever)."""
    return await fetch_one(conn, Q.get_settings, {"sender_id": sender_id})


async def set_settings(
    conn: Conn,
    sender_id: int,
    *,
    events_days: int | None,
    inbound_days: int | None,
    webhook_days: int | None,
) -> Row | None:
    """Replace the limits; each is None (keep) or 1 to 36500 days (checked by the caller)."""
    return await fetch_one(
        conn,
        Q.set_settings,
        {
            "sender_id": sender_id,
            "events_days": events_days,
            "inbound_days": inbound_days,
            "webhook_days": webhook_days,
        },
    )
