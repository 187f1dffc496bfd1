"""campaign.dispatch and the A/B winner: set-based fan-out with a checkpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from services.sender import metrics
from shared import jobs
from shared.campaigns import abtest
from shared.campaigns import repository as repo
from shared.campaigns.models import batch_message, batch_messages, split_range
from shared.config import Settings
from shared.db import transaction
from shared.filters import parse_filter
from shared.logging import get_logger

log = get_logger(__name__)
FIRST_CHUNK = 1000  # small, so the first messages go out within a second or two
Publish = Callable[[Sequence[jobs.Job]], Coroutine[Any, Any, None]]


async def dispatch(
    pool: AsyncConnectionPool,
    campaign_id: int,
    *,
    settings: Settings,
    publish: Publish = jobs.publish,
) -> int:
    """Create the campaign's send rows chunk by chunk, each chunk in its own transaction with
    the checkpoint, and publish that chunk's send.batch messages after it commits (while the
    next chunk is being inserted). A crash
    resumes from the checkpoint; a second dispatcher waits on the row lock and finds no more
    rows. Returns the rows created."""
    await _queue_created_again(pool, campaign_id, settings, publish)
    publishing: asyncio.Task[None] | None = None

    async def hand_over(messages: Sequence[Any]) -> None:
        # The chunk's send.batch messages are published (with confirms, in a thread) while the
        # next chunk is inserted: one publish in flight at a time, so messages keep their order
        # and a publish error still fails this dispatch (the retry resumes at the checkpoint;
        # rows whose messages were lost are queued again by the retry, _queue_created_again).
        nonlocal publishing
        if publishing is not None:
            await publishing
            publishing = None
        if messages:
            publishing = asyncio.create_task(publish(list(messages)))

    try:
        total = await _dispatch_chunks(pool, campaign_id, settings, hand_over)
    finally:
        if publishing is not None:
            await publishing
    return total


async def _queue_created_again(
    pool: AsyncConnectionPool, campaign_id: int, settings: Settings, publish: Publish
) -> None:
    """A retried or redelivered dispatch: the broker may have gone away while the previous
    attempt published, after its chunks (and maybe the final state) were committed, and the
    checkpoint does not go back. Queue every sendable range created so far again, so those rows
    go out as soon as the broker is back rather than at the scheduler's stale-row sweep minutes
    later. A range whose message did arrive is sent once all the same: a claim only takes rows
    still queued. The first delivery finds no rows, so this costs one indexed query."""
    async with pool.connection() as conn:
        ranges = await repo.ready_ranges(conn, campaign_id, settings.send_batch_size)
    if ranges:
        messages = [batch_message(r["email_id"], r["first_id"], r["last_id"]) for r in ranges]
        await publish(messages)
        log.info("dispatch queued created rows again", campaign_id=campaign_id, ranges=len(ranges))


async def _dispatch_chunks(
    pool: AsyncConnectionPool,
    campaign_id: int,
    settings: Settings,
    hand_over: Callable[[Sequence[Any]], Awaitable[None]],
) -> int:
    total = 0
    limit = min(FIRST_CHUNK, settings.dispatch_chunk_size)
    while True:
        async with transaction(pool) as tx:
            campaign = await repo.get_campaign_for_update(tx.conn, campaign_id)
            if campaign is None or campaign["state"] != "dispatching":
                return total
            remaining = None
            if campaign["max_count"] is not None:
                remaining = campaign["max_count"] - campaign["queued_count"]
            take = limit if remaining is None else min(limit, remaining)
            done = take <= 0
            messages: list[Any] = []
            if not done:
                await repo.dispatch_async_commit(tx.conn)
                chunk = await repo.dispatch_chunk(
                    tx.conn, campaign, parse_filter(campaign["filter"]), limit=take
                )
                if chunk["scanned"]:
                    await repo.advance_checkpoint(tx.conn, campaign_id, chunk)
                total += chunk["inserted"]
                metrics.DISPATCHED.inc(chunk["inserted"])
                if chunk["first_id"] is not None:
                    messages = split_range(
                        campaign["email_id"], chunk["first_id"], chunk["last_id"],
                        settings.send_batch_size,
                    )  # fmt: skip
                done = chunk["scanned"] < take or (
                    remaining is not None and chunk["inserted"] >= remaining
                )
            if done:
                testing = campaign["ab_test_share"] is not None and (
                    campaign["winner_variation_id"] is None
                )
                await repo.set_campaign_state(
                    tx.conn, campaign_id, "testing" if testing else "sending"
                )
                log.info("dispatched", campaign_id=campaign_id, rows=total, testing=testing)
        await hand_over(messages)  # after COMMIT: a worker never sees an id not yet committed
        if done:
            return total
        limit = settings.dispatch_chunk_size


async def decide_winner(
    pool: AsyncConnectionPool, campaign_id: int, *, settings: Settings
) -> int | None:
    """Decide the A/B test over the test share (``shared.campaigns.abtest``: a minimum sample,
    then the leader's margin and its confidence interval), record the decision, give the held
    rows the chosen variation (the winner, or the default one when the test cannot tell) and
    queue them. Idempotent: a campaign that is no longer testing is left alone. Returns the
    variation the rest gets."""
    async with transaction(pool) as tx:
        campaign = await repo.get_campaign_for_update(tx.conn, campaign_id)
        if campaign is None or campaign["state"] != "testing":
            return None
        ab = await repo.ab_settings(tx.conn, campaign_id)
        assert ab is not None  # the row is locked above
        metric = ab["ab_metric"] or "click"
        arms = await abtest.sample(tx.conn, campaign_id, campaign["email_id"], metric)
        if not arms:  # every variation was deactivated during the test
            cancelled = await repo.cancel_held(tx.conn, campaign_id)
            await repo.set_campaign_state(tx.conn, campaign_id, "sending")
            log.warning("ab test without variations", campaign_id=campaign_id, cancelled=cancelled)
            return None
        decision = abtest.decide(arms, metric=metric, min_sends=ab["ab_min_sends"])
        await repo.record_winner(
            tx.conn, campaign_id, decision.variation_id, decision.reason, decision.as_json()
        )
        released = await repo.release_held(tx.conn, campaign_id, decision.variation_id)
        ranges = await repo.ready_ranges(tx.conn, campaign_id, settings.send_batch_size)
        for message in batch_messages(campaign["email_id"], ranges):
            tx.enqueue(message)
        log.info(
            "ab decision", campaign_id=campaign_id, outcome=decision.outcome,
            variation_id=decision.variation_id, margin_pp=decision.margin_pp,
            released=released, reason=decision.reason,
        )  # fmt: skip
        return decision.variation_id
