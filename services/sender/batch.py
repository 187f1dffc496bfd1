"""send.batch: claim a range of send rows, render, sign and send them, record the outcomes.

Durability. Rows are claimed (queued -> sending, with a lease and a new attempt number) in one
short transaction. Each message the relay accepts is written 'sent' by the process's recorder
within about 10 ms of its reply (services/sender/recorder.py); refusals and temporary
failures are written at the end of the batch, with the bounce policy and webhooks. A message is
only started while the claim has at least a fifth of its lease left, so a live worker never
sends a row whose lease another worker may take over.

Duplicate bound. A worker process killed mid-batch leaves its claimed rows 'sending'; after the
lease the scheduler queues them again and they are sent once more. Rows it never started (still
waiting in the batch or the SMTP queue) were never sent, so they are sent once. What is sent
twice is only what the relay had accepted and the database did not yet say: per killed process,
at most one message per open SMTP connection (the one whose content was written and whose reply
was unread: pipelining writes only the next message's envelope ahead, never its content), plus
the sends the recorder had not written yet (the replies of its last 10 ms, never more than 64,
and its write in flight). So ``smtp_pool_size x relays + min(rate x 10 ms, 64) + one write``:
about 25 at 1,500 messages a second with the defaults, not ``worker_threads x send_batch_size``
(2,000) as when a batch was recorded at its end. A database outage longer than 0.8 of the lease
adds the sends accepted during it. In normal operation (no kill) no row is sent twice: a row is
only claimed from 'queued' under a row lock, and a message is not started late in its lease.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from services.sender import metrics
from services.sender.lane import PriorityGate
from services.sender.message import Composer, Outgoing, pick_variation
from services.sender.recorder import Recorder
from services.sender.smtp import Relays, SmtpResult, relay_queue_id
from shared.campaigns.models import Message, range_message
from shared.config import Settings
from shared.db import Conn, transaction
from shared.errors import AppError
from shared.logging import get_logger
from shared.responses import policy as responses
from shared.sends import repository as sends
from shared.tokens import TokenCodec

log = get_logger(__name__)
# A message is not started once this share of its claim's lease is gone: the rest covers its
# reply and the write that records it, before the scheduler may give the row to another worker.
LEASE_SHARE_TO_START = 0.8


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
    transactional: bool = False  # follow-ups go to the priority lane
    more: bool = False  # the claim was full and the range is wider: rows may remain
    messages: list[Message] = field(default_factory=list)


async def _reserve(conn: Conn, ctx: Mapping[str, Any], want: int) -> tuple[int, float | None]:
    """Take up to ``want`` sends from the sender's per-second and per-hour windows (shared by
    every worker through rate_counters). Returns how many, and when to come back if none."""
    granted, wait = want, None
    taken: list[tuple[str, Any, int]] = []
    if ctx["transactional"] and not ctx["transactional_rate_limited"]:
        return granted, None  # the sender chose not to count transactional mail
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


def next_try_in(attempts: int, retrying_seconds: float, settings: Settings) -> float | None:
    """Seconds until the next try of a send whose ``attempts``-th try failed temporarily,
    ``retrying_seconds`` after its first try; None once its retry lifetime is over.

    As Postfix retries a deferred message: the wait doubles from ``send_retry_min_seconds`` up to
    ``send_retry_max_seconds``, and the last try falls at the end of the lifetime.
    """
    left = settings.send_retry_lifetime_seconds - retrying_seconds
    if left <= 0:
        return None
    backoff = settings.send_retry_min_seconds * 2.0 ** min(attempts - 1, 64)
    return min(backoff, settings.send_retry_max_seconds, left)


async def run_batch(
    pool: AsyncConnectionPool,
    email_id: int,
    first_id: int,
    last_id: int,
    *,
    settings: Settings,
    relays: Relays,
    codec: TokenCodec,
    recorder: Recorder,
    gate: PriorityGate | None = None,
) -> BatchReport:
    """Send the queued rows of ``email_id`` in ``first_id..last_id``. ``gate``: for bulk work,
    the process's priority lane, which it yields to between messages (services/sender/lane.py).
    """
    report = BatchReport()
    started = time.perf_counter()
    # Measured before the claim, so it is never later than the lease the database sets.
    deadline = time.monotonic() + settings.send_lease_seconds * LEASE_SHARE_TO_START
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
        report.transactional = bool(ctx["transactional"])
        payloads = await sends.payloads(
            tx.conn, [r["id"] for r in rows if r["transactional"] and r["state"] == "sending"]
        )
    claimed = [r for r in rows if r["state"] == "sending"]
    report.claimed = len(claimed)
    report.cancelled = len(rows) - len(claimed)
    metrics.BATCH_ROWS.observe(len(rows))
    if report.cancelled:
        metrics.SENDS.labels("cancelled").inc(report.cancelled)

    outcomes = sends.Outcomes()
    bounces: list[responses.Report] = []
    failures: list[dict[str, Any]] = []
    delivered: list[dict[str, Any]] = []  # transactional sends the relay accepted (webhooks)
    composer = Composer(ctx, bulk=ctx["bulk"], track_clicks=ctx["track_clicks"], email_id=email_id)
    replies: list[tuple[Mapping[str, Any], Any, asyncio.Future[SmtpResult]]] = []
    writes: set[asyncio.Future[None]] = set()  # the recorder's writes holding our accepted sends

    def record_if_sent(row: Mapping[str, Any], vid: Any, reply: asyncio.Future[SmtpResult]) -> None:
        # Runs as the reply is read, not when the batch gets to it: the recorder writes it soon.
        if reply.cancelled() or reply.exception() is not None:
            return
        result = reply.result()
        if result.kind == "sent":
            relay_id = relay_queue_id(result.reply)  # what the relay's events will name it by
            writes.add(recorder.sent(row["id"], row["attempts"], vid, result.code, relay_id))

    for i, row in enumerate(claimed):
        if gate is not None:
            await gate.yield_to_priority()
        variation = _choose(row, variations)
        vid = None if variation is None else variation["id"]
        try:
            if variation is None:
                raise AppError("no active variation")
            out: Outgoing = composer.compose(
                variation, row, codec.encode(row["id"]), payload=payloads.get(row["id"])
            )
            reply = relays.submit(
                ctx["relay"], out.mail_from, out.rcpt, out.data, deadline,
                urgent=report.transactional,
            )  # fmt: skip
        except Exception as exc:  # a bad row must not stop the batch; it fails with the reason
            outcomes.add(
                row["id"], "failed", vid, error=f"{type(exc).__name__}: {exc}"[:500],
                attempt=row["attempts"],
            )  # fmt: skip
            failures.append({"send_id": row["id"], "error": str(exc)[:500]})
            continue
        reply.add_done_callback(functools.partial(record_if_sent, row, vid))
        replies.append((row, vid, reply))
        if i % 16 == 15:
            await asyncio.sleep(0)  # let finished SMTP replies be read while we keep building
    expired = 0
    for sent_row, vid, reply in replies:
        result = await reply
        attempt = sent_row["attempts"]
        if result.kind == "sent":
            report.sent += 1
            if report.transactional:
                delivered.append({"send_id": sent_row["id"], "smtp_code": result.code})
            continue
        if result.kind == "expired":  # never started: queue it again at once, nothing was sent
            outcomes.add(sent_row["id"], "queued", vid, None, None, result.reply, 0.0,
                         attempt=attempt)  # fmt: skip
            report.retry_delay = 0.0
            expired += 1
            continue
        delay = None
        if result.kind == "temporary":
            delay = next_try_in(attempt, sent_row["retrying_seconds"] or 0.0, settings)
        if delay is not None:
            outcomes.add(sent_row["id"], "queued", vid, result.code, result.reply, None, delay,
                         attempt=attempt)  # fmt: skip
            if report.retry_delay is None or delay < report.retry_delay:
                report.retry_delay = delay
            continue
        outcomes.add(sent_row["id"], "failed", vid, result.code, result.reply, result.kind,
                     attempt=attempt)  # fmt: skip
        failures.append(
            {"send_id": sent_row["id"], "smtp_code": result.code, "reply": result.reply}
        )
        # A refusal ends the send, and so does a temporary one at the last try (as an MTA's
        # DSN for a message that expired in its queue does): either is a bounce, classified by
        # the one policy (a 4xx is soft). Our relay refusing us or unreachable is not.
        if result.about_recipient:
            bounces.append(
                responses.smtp_bounce(ctx["sender_id"], sent_row, result.code, result.reply)
            )

    if expired:  # the relay is slower than the lease allows: lower the batch size or the pool
        log.warning("sends not started within their lease; queued again", email_id=email_id,
                    expired=expired, lease_seconds=settings.send_lease_seconds)  # fmt: skip
    written = await asyncio.gather(*writes, return_exceptions=True)
    stopped: Any = []
    if outcomes.ids or failures or delivered:
        stopped, webhook_messages = await _record_with_retry(
            pool, settings, outcomes, bounces,
            lambda conn: _webhooks(conn, ctx, email_id, failures, delivered),
        )  # fmt: skip
        report.messages.extend(webhook_messages)
    for error in written:
        if isinstance(error, BaseException):  # the database stayed away: the lease resends them
            raise error
    for state in outcomes.states:
        if state == "failed":
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
    conn: Conn,
    ctx: Mapping[str, Any],
    email_id: int,
    failures: list[dict[str, Any]],
    delivered: list[dict[str, Any]],
) -> list[Message]:
    """``send_failed`` and (transactional sends) ``delivered`` webhook events, through the API
    area's ``emit`` (written in the same transaction as the outcome, delivered after commit)."""
    if not failures and not delivered:
        return []
    from shared.webhooks.service import emit

    messages: list[Message] = []
    for event, items in (("send_failed", failures), ("delivered", delivered)):
        for item in items:
            messages.extend(
                await emit(conn, ctx["sender_id"], event, {"email_id": email_id, **item})
            )
    return messages


def follow_ups(
    email_id: int, first_id: int, last_id: int, report: BatchReport
) -> list[tuple[Message, int]]:
    """Messages to queue after a batch, with their delay in ms: the retry of rows that got a
    temporary failure, rows left because the sender's rate window was full, and the rest of a
    range that held more rows than one claim takes."""
    out: list[tuple[Message, int]] = []
    again = range_message(email_id, first_id, last_id, report.transactional)
    if report.retry_delay is not None:
        out.append((again, int(report.retry_delay * 1000)))
    if report.rate_limited is not None:
        out.append((again, int(report.rate_limited * 1000)))
    elif report.more:
        out.append((again, 0))
    return out
