"""The campaign scheduler (``python -m services.sender scheduler``).

Each tick it starts due scheduled campaigns, gives expired leases back to the queue, queues
transactional sends left queued for TART_TRANSACTIONAL_STALE_SECONDS again, decides A/B
winners whose wait is over, finishes campaigns with nothing left to send, and moves automations
on (shared/automations/engine.py). Less often it re-queues work that was left behind (a crash
between COMMIT and publish, or a lost message) and purges old rate windows; every ten minutes
it applies the senders' retention limits (``shared.privacy.retention``). Every step is one
set-based statement and safe to run from several schedulers at once (row locks with SKIP
LOCKED, state-guarded updates).

When RabbitMQ is away at the moment a tick's COMMIT is published, the jobs wait in the process's
outbox and go out with the next tick that reaches the broker. Rows released from an expired lease
need that: once 'queued' again no tick releases them twice, and the stale-row sweep would leave
them waiting five minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from psycopg_pool import AsyncConnectionPool

from services.sender import metrics
from services.sender.dispatch import decide_winner
from shared.automations import engine as automations
from shared.campaigns import repository as campaigns
from shared.campaigns.models import Message, batch_message, dispatch_message, range_message
from shared.config import Settings, get_settings
from shared.db import create_pool, transaction
from shared.errors import BrokerUnavailable
from shared.jobs import publish
from shared.logging import get_logger
from shared.optin import service as optin
from shared.privacy import retention
from shared.sends import repository as sends

log = get_logger(__name__)
TICK_SECONDS = 1.0
SWEEP_SECONDS = 30.0
RETENTION_SECONDS = 600.0
STALE_QUEUED_SECONDS = 300.0
STALLED_DISPATCH_SECONDS = 60.0
STUCK_CAMPAIGN_SECONDS = 900.0  # tart_stuck_campaigns: running, yet nothing sent for this long
# A confirmation mail still not out this long after it was asked for lost its message (its
# own retries, up to 20 with backoff, end well before).
UNMAILED_CONFIRMATION_SECONDS = 30 * 60


class Outbox:
    """Jobs whose work was committed but whose publish failed (RabbitMQ away): kept in memory and
    published again before the next tick's work. A scheduler that dies with jobs here leaves
    them to the sweeps, as any crash between COMMIT and publish does."""

    def __init__(self) -> None:
        self.jobs: list[Message] = []

    async def flush(self) -> None:
        """Publish what is waiting; raises BrokerUnavailable (and keeps it) while the broker is
        away. Publishing a job twice is harmless: claims take only rows still queued."""
        if self.jobs:
            await publish(self.jobs)
            self.jobs.clear()


OUTBOX = Outbox()


async def tick(
    pool: AsyncConnectionPool, settings: Settings, outbox: Outbox = OUTBOX
) -> list[Message]:
    """One pass of the frequent duties; returns (and publishes) the messages it queued."""
    await outbox.flush()
    queued: list[Message] = []
    try:
        async with transaction(pool) as tx:
            for row in await campaigns.due_campaigns(tx.conn):
                await campaigns.set_campaign_state(tx.conn, row["id"], "dispatching")
                await campaigns.set_email_state(
                    tx.conn, row["sender_id"], row["email_id"], "sending"
                )
                tx.enqueue(dispatch_message(row["id"]))
            for r in await sends.release_expired_leases(tx.conn, settings.send_batch_size):
                tx.enqueue(
                    range_message(r["email_id"], r["first_id"], r["last_id"], r["transactional"])
                )
            for r in await sends.stale_transactional_ranges(
                tx.conn, settings.transactional_stale_seconds, settings.send_batch_size
            ):
                tx.enqueue(range_message(r["email_id"], r["first_id"], r["last_id"], True))
            finished = await campaigns.finish_done_campaigns(tx.conn)
            queued = list(tx.after_commit)
    except BrokerUnavailable:
        outbox.jobs.extend(queued)  # committed: publish them with the next tick
        raise
    for row in finished:
        log.info("email sent", email_id=row["id"])
    # Automations: their rows are committed statement by statement; publish through the outbox
    # so a broker outage keeps the messages for the next tick.
    moved = await automations.run_pass(pool, settings.send_batch_size)
    outbox.jobs.extend(moved)
    await outbox.flush()
    queued += moved
    async with pool.connection() as conn:
        due = await campaigns.testing_due(conn)
        await conn.rollback()
    for row in due:
        await decide_winner(pool, row["id"], settings=settings)
    return queued


async def sweep(pool: AsyncConnectionPool, settings: Settings) -> list[Message]:
    """Re-queue what nobody is working on: queued rows untouched for a while, dispatches that
    made no progress and confirmation mails that never went out; then purge pending subscribers
    who never confirmed. Extra messages are harmless (claims skip what is not due, a mailed
    confirmation is not mailed again)."""
    async with transaction(pool) as tx:
        for r in await sends.stale_queued_ranges(
            tx.conn, STALE_QUEUED_SECONDS, settings.send_batch_size
        ):
            tx.enqueue(batch_message(r["email_id"], r["first_id"], r["last_id"]))
        for row in await campaigns.stalled_dispatches(tx.conn, STALLED_DISPATCH_SECONDS):
            tx.enqueue(dispatch_message(row["id"]))
        await sends.purge_rate_counters(tx.conn)
        await optin.requeue_unmailed(tx, UNMAILED_CONFIRMATION_SECONDS)
        health = await campaigns.sending_health(tx.conn, STUCK_CAMPAIGN_SECONDS)
        metrics.OLDEST_QUEUED.set(health["oldest_queued_seconds"])
        metrics.STUCK_CAMPAIGNS.set(health["stuck_campaigns"])
        queued = list(tx.after_commit)
    # pending subscribers who never confirmed: in batches, each its own short transaction
    await optin.purge_pending(pool, settings.optin_purge_days)
    await automations.leave_inactive(pool)
    return queued


async def run(stop: asyncio.Event) -> None:
    settings = get_settings()
    pool = create_pool(settings, name="scheduler", max_size=2)
    await pool.open(wait=False)
    last_sweep = last_retention = 0.0
    try:
        while not stop.is_set():
            try:
                await tick(pool, settings)
                if time.monotonic() - last_sweep > SWEEP_SECONDS:
                    await sweep(pool, settings)
                    last_sweep = time.monotonic()
                if time.monotonic() - last_retention > RETENTION_SECONDS:
                    # old events (rolled up first), raw inbound mail, webhook logs: in batches
                    last_retention = time.monotonic()
                    await retention.run(pool, settings)
            except Exception:  # keep ticking through a database or broker outage
                log.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=TICK_SECONDS)
    finally:
        await pool.close()
