"""The automation engine, run by the scheduler: subscribers enter sequences and move through
their steps in set-based statements, one step of many subscribers per statement.

Why it is safe to crash anywhere: every statement runs in its own transaction and carries its
own progress. A send step inserts the send rows and moves the subscribers past the step in ONE
statement, so after a restart a step is either done (rows moved, sends queued) or not (nothing
happened). The send.batch messages are returned for the caller to publish after COMMIT; a lost
publish is re-queued by the scheduler's stale-row sweep, and a redelivered one claims nothing
(claims take queued rows only). Rows are locked with SKIP LOCKED, so two schedulers share the
work instead of doing it twice. A send carries its progress row's occurrence (the year of a
date_property sequence, else ''), and sends are unique on (email, subscriber, occurrence)
(db/0177): a birthday mail goes out again next year, never twice in one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from shared.automations import repository as repo
from shared.campaigns.models import Message, batch_message
from shared.db import Conn, Row
from shared.filters import Filter
from shared.logging import get_logger
from shared.segments import service as segments

log = get_logger(__name__)
STEP_CHUNK = 20_000  # subscribers moved by one statement
ENTRY_CHUNK = 20_000  # subscribers entered by one statement (a long outage is caught up in many)
MAX_ROUNDS = 50  # statements per sequence and step in one pass (the next tick goes on)
ENTRY_SECONDS = 60.0  # how often segment and date entries are tried


async def run_pass(
    pool: AsyncConnectionPool, batch_size: int, *, today: date | None = None
) -> list[Message]:
    """Let subscribers enter every active sequence and move every due one on. Returns the
    send.batch messages to publish (their rows are committed).

    Parameters:
      today: the UTC day date_property sequences look for (None: today); tests pass next
        year's to see a yearly sequence come round again.
    """
    async with pool.connection() as conn:
        automations = await repo.runnable(conn)
        await conn.rollback()
    messages: list[Message] = []
    for automation in automations:
        try:
            messages += await run_automation(pool, automation, batch_size, today=today)
        except Exception:  # one broken sequence (a deleted segment) must not stop the others
            log.exception("automation pass failed", automation_id=automation["id"])
    return messages


async def leave_inactive(pool: AsyncConnectionPool) -> int:
    """Whoever unsubscribed, bounced or complained leaves every sequence (the sweep's duty: the
    steps that send or judge check again anyway)."""
    async with pool.connection() as conn, conn.transaction():
        left = await repo.leave_inactive(conn)
    if left:
        log.info("subscribers left automations", count=left)
    return left


async def run_automation(
    pool: AsyncConnectionPool, automation: Row, batch_size: int, *, today: date | None = None
) -> list[Message]:
    aid = automation["id"]
    await _enter(pool, automation, today or datetime.now(UTC).date())
    messages: list[Message] = []
    async with pool.connection() as conn:
        steps = await repo.steps(conn, aid)
        filters = {
            st["position"]: await _segment_filter(conn, automation["sender_id"], st["segment_id"])
            for st in steps
            if st["kind"] == "condition"
        }
        await conn.rollback()
    for _ in range(MAX_ROUNDS):
        moved = 0
        for step in steps:
            async with pool.connection() as conn, conn.transaction():
                held = await repo.hold(conn, aid)
                if held is None or held["updated_at"] != automation["updated_at"]:
                    return messages  # paused or edited since this pass read it
                count, msgs = await _advance(conn, automation, step, filters, batch_size)
            moved += count
            messages += msgs
        async with pool.connection() as conn, conn.transaction():
            await repo.finish(conn, aid, len(steps))
        if moved == 0:
            break
    return messages


async def _segment_filter(conn: Conn, sender_id: int, segment_id: int) -> Filter:
    f = await segments.resolve(conn, sender_id, None, segment_id=segment_id)
    assert f is not None
    return f


async def _enter(pool: AsyncConnectionPool, automation: Row, today: date) -> None:
    aid, trigger = automation["id"], automation["trigger"]
    if trigger in ("subscriber_created", "subscriber_active"):
        await _enter_new(pool, aid, trigger)
        return
    tried = automation["entry_tried_at"]
    if tried is not None and datetime.now(UTC) - tried < timedelta(seconds=ENTRY_SECONDS):
        return
    async with pool.connection() as conn, conn.transaction():
        entered = await _enter_periodic(conn, automation, today)
    if entered:
        log.info("subscribers entered an automation", automation_id=aid, count=entered)


async def _enter_new(pool: AsyncConnectionPool, aid: int, trigger: str) -> None:
    """Newcomers enter chunk by chunk, each chunk in its own transaction that also moves the
    checkpoint, so a scheduler back from a long outage enters everyone it missed without one
    huge transaction, and a crash midway resumes from the last chunk."""
    entered = 0
    for _ in range(MAX_ROUNDS):
        async with pool.connection() as conn, conn.transaction():
            count, more = await repo.enter_new(conn, aid, trigger, ENTRY_CHUNK)
        entered += count
        if not more:
            break
    if entered:
        log.info("subscribers entered an automation", automation_id=aid, count=entered)


async def _enter_periodic(conn: Conn, automation: Row, today: date) -> int:
    aid, sender_id = automation["id"], automation["sender_id"]
    if automation["trigger"] == "segment_entered":
        f = await _segment_filter(conn, sender_id, automation["segment_id"])
        entered = await repo.enter_segment(conn, aid, sender_id, f)
        await repo.entry_tried(conn, aid, None)
        return entered
    if automation["last_date_run"] == today:
        await repo.entry_tried(conn, aid, None)
        return 0
    entered = await repo.enter_dates(conn, aid, sender_id, automation["date_property"], today)
    await repo.entry_tried(conn, aid, today)
    return entered


async def _advance(
    conn: Conn, automation: Row, step: Row, filters: dict[int, Filter], batch_size: int
) -> tuple[int, list[Message]]:
    aid, position = automation["id"], step["position"]
    if step["kind"] == "wait":
        return await repo.advance_wait(conn, aid, position, step["wait_seconds"], STEP_CHUNK), []
    if step["kind"] == "condition":
        return await repo.advance_condition(conn, aid, position, filters[position], STEP_CHUNK), []
    row = await repo.advance_send(
        conn,
        aid,
        position,
        sender_id=automation["sender_id"],
        email_id=step["email_id"],
        limit=STEP_CHUNK,
        batch_size=batch_size,
    )
    ranges: list[Any] = row["ranges"]
    return int(row["moved"]), [batch_message(step["email_id"], a, b) for a, b in ranges]
