"""send.batch: claim a range of send rows, render, sign and send them, record the outcomes.

Durability: rows are claimed (queued -> sending) with a lease in one short transaction, sent,
then recorded in one UPDATE. A worker killed between the relay's 250 and that UPDATE leaves its
rows 'sending'; after the lease the scheduler queues them again and they are sent a second time.
So duplicates are bounded by the rows in flight in the killed process: at most
``worker_threads x send_batch_size`` (one batch per dramatiq thread), and in normal operation
(no kill) no row is sent twice, because a row is only claimed from 'queued' under a row lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from services.sender import metrics
from services.sender.message import Outgoing, compose, pick_variation
from services.sender.smtp import Relays, SmtpResult
from shared.campaigns.models import Message, batch_message
from shared.config import Settings
from shared.db import Conn, transaction
from shared.errors import AppError
from shared.logging import get_logger
from shared.responses import policy as responses
from shared.sends import repository as sends
from shared.tokens import TokenCodec

log = get_logger(__name__)


@dataclass
class BatchReport:
    """What a batch did, for logs, tests and the actor's follow-up messages."""

    claimed: int = 0
    cancelled: int = 0
    sent: int = 0
    failed: int = 0
    retry: int = 0
    retry_delay: float | None = None
    rate_limited: float | None = None  # seconds until the sender's window reopens
    more: bool = False  # the claim was full and the range is wider: rows may remain
    messages: list[Message] = field(default_factory=list)


async def _reserve(conn: Conn, ctx: Mapping[str, Any], want: int) -> tuple[int, float | None]:
    """Take up to ``want`` sends from the sender's per-second and per-hour windows (shared by
    every worker through rate_counters). Returns how many, and when to come back if none."""
    granted, wait = want, None
    taken: list[tuple[str, Any, int]] = []
    for unit, limit, seconds in (
        ("second", ctx["rate_per_second"], 1.0),
        ("hour", ctx["rate_per_hour"], 3600.0),
    ):
        if not limit:
            continue
        key = f"send:{ctx['sender_id']}:{unit}"
        count, window = await sends.take_rate(conn, key, unit, granted)
        allowed = max(0, min(granted, limit - (count - granted)))
        taken.append((key, window, granted))
        if allowed < granted:
            wait = seconds - (time.time() % seconds)
        granted = allowed
    for key, window, took in taken:
        await sends.give_back_rate(conn, key, window, took - granted)
    return granted, wait


def _choose(row: Mapping[str, Any], variations: Sequence[Mapping[str, Any]]) -> Any:
    if row["variation_id"] is not None:
        for v in variations:
            if v["id"] == row["variation_id"]:
                return v
    active = [v for v in variations if v["state"] == "active"]
    return pick_variation(row["id"], active) if active else None


async def _record_with_retry(
    pool: AsyncConnectionPool,
    settings: Settings,
    outcomes: Any,
    bounces: list[responses.Report],
    webhooks: Callable[[Any], Awaitable[list[Any]]],
) -> tuple[list[int], list[Any]]:
    """Write a batch's outcomes, retrying through a short database outage.

    The messages have already been handed to the relay; if this write gave up, the rows would
    stay 'sending' until their lease expired and the whole batch would be sent again. The
    outcomes are known, so keep trying for most of the lease, before the scheduler may queue the
    rows again. Retrying is safe: record_outcomes only changes rows still in 'sending'.
    """
    deadline = time.monotonic() + settings.send_lease_seconds * 0.8
    delay = 0.2
    while True:
        try:
            async with transaction(pool) as tx:
                await sends.record_outcomes(tx.conn, outcomes)
                applied = await responses.apply(tx.conn, bounces)  # the one bounce policy
                messages = applied.messages + await webhooks(tx.conn)
            return applied.stopped, messages
        except (psycopg.OperationalError, PoolTimeout) as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("recording outcomes failed; retrying", error=str(error), delay=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def run_batch(
    pool: AsyncConnectionPool,
    email_id: int,
    first_id: int,
    last_id: int,
    *,
    settings: Settings,
    relays: Relays,
    codec: TokenCodec,
) -> BatchReport:
    report = BatchReport()
    started = time.perf_counter()
    async with transaction(pool) as tx:
        ctx = await sends.batch_context(tx.conn, email_id)
        if ctx is None:
            return report
        variations = await sends.email_variations(tx.conn, email_id)
        want = min(settings.send_batch_size, last_id - first_id + 1)
        granted, wait = await _reserve(tx.conn, ctx, want)
        rows = []
        if granted > 0:
            rows = await sends.claim_batch(
                tx.conn, email_id, first_id, last_id,
                limit=granted, lease_seconds=settings.send_lease_seconds,
            )  # fmt: skip
        if wait is not None:
            report.rate_limited = wait
        report.more = 0 < granted == len(rows) and granted < last_id - first_id + 1
    claimed = [r for r in rows if r["state"] == "sending"]
    report.claimed = len(claimed)
    report.cancelled = len(rows) - len(claimed)
    metrics.BATCH_ROWS.observe(len(rows))
    if report.cancelled:
        metrics.SENDS.labels("cancelled").inc(report.cancelled)

    outcomes = sends.Outcomes()
    bounces: list[responses.Report] = []
    failures: list[dict[str, Any]] = []
    relay = relays.for_sender(ctx["relay"])
    tasks: list[tuple[Mapping[str, Any], Any, asyncio.Task[SmtpResult]]] = []
    for i, row in enumerate(claimed):
        variation = _choose(row, variations)
        vid = None if variation is None else variation["id"]
        try:
            if variation is None:
                raise AppError("no active variation")
            out: Outgoing = compose(
                ctx, variation, row, codec.encode(row["id"]),
                bulk=ctx["bulk"], track_clicks=ctx["track_clicks"], email_id=email_id,
            )  # fmt: skip
        except Exception as exc:  # a bad row must not stop the batch; it fails with the reason
            outcomes.add(row["id"], "failed", vid, error=f"{type(exc).__name__}: {exc}"[:500])
            failures.append({"send_id": row["id"], "error": str(exc)[:500]})
            continue
        task = asyncio.create_task(relay.send(out.mail_from, out.rcpt, out.data))
        tasks.append((row, vid, task))
        if i % 16 == 15:
            await asyncio.sleep(0)  # let finished SMTP replies be read while we keep building
    for sent_row, vid, task in tasks:
        result = await task
        if result.kind == "sent":
            outcomes.add(sent_row["id"], "sent", vid, result.code, None)
            continue
        if result.kind == "temporary" and sent_row["attempts"] < settings.send_max_attempts:
            delay = settings.send_retry_base_seconds * 2 ** (sent_row["attempts"] - 1)
            outcomes.add(sent_row["id"], "queued", vid, result.code, result.reply, None, delay)
            report.retry_delay = min(delay, report.retry_delay or delay)
            continue
        outcomes.add(sent_row["id"], "failed", vid, result.code, result.reply, result.kind)
        failures.append(
            {"send_id": sent_row["id"], "smtp_code": result.code, "reply": result.reply}
        )
        if result.kind == "permanent":
            bounces.append(
                responses.smtp_bounce(ctx["sender_id"], sent_row, result.code, result.reply)
            )

    stopped, webhook_messages = await _record_with_retry(
        pool, settings, outcomes, bounces, lambda conn: _webhooks(conn, ctx, email_id, failures)
    )
    report.messages.extend(webhook_messages)
    for state in outcomes.states:
        if state == "sent":
            report.sent += 1
        elif state == "failed":
            report.failed += 1
        else:
            report.retry += 1
    for outcome, n in (("sent", report.sent), ("failed", report.failed), ("retry", report.retry)):
        if n:
            metrics.SENDS.labels(outcome).inc(n)
    metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
    log.info(
        "batch", email_id=email_id, first_id=first_id, last_id=last_id, claimed=report.claimed,
        sent=report.sent, failed=report.failed, retry=report.retry, cancelled=report.cancelled,
        stopped_subscribers=len(stopped),
    )  # fmt: skip
    return report


async def _webhooks(
    conn: Conn, ctx: Mapping[str, Any], email_id: int, failures: list[dict[str, Any]]
) -> list[Message]:
    """``send_failed`` webhook events, through the API area's ``emit`` (written in the same
    transaction as the outcome, delivered after commit)."""
    if not failures:
        return []
    from shared.webhooks.service import emit

    messages: list[Message] = []
    for failure in failures:
        messages.extend(await emit(conn, ctx["sender_id"], "send_failed",
                                   {"email_id": email_id, **failure}))  # fmt: skip
    return messages


def follow_ups(
    email_id: int, first_id: int, last_id: int, report: BatchReport
) -> list[tuple[Message, int]]:
    """Messages to queue after a batch, with their delay in ms: the retry of rows that got a
    temporary failure, rows left because the sender's rate window was full, and the rest of a
    range that held more rows than one claim takes."""
    out: list[tuple[Message, int]] = []
    if report.retry_delay is not None:
        out.append((batch_message(email_id, first_id, last_id), int(report.retry_delay * 1000)))
    if report.rate_limited is not None:
        out.append((batch_message(email_id, first_id, last_id), int(report.rate_limited * 1000)))
    elif report.more:
        out.append((batch_message(email_id, first_id, last_id), 0))
    return out
