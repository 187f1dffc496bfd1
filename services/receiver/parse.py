"""What inbound.parse does: classify a stored message, tie it to its send, store what it says,
and apply the sender's policy; with retries counted so a poison message is quarantined."""

from __future__ import annotations

import asyncio
from typing import Any

from psycopg_pool import AsyncConnectionPool

from services.receiver import metrics
from services.receiver.classify import Classification, Recipient, classify
from services.receiver.esp import apply as esp_apply
from services.receiver.matching import Match, match_sends
from shared.config import get_settings
from shared.db import Conn, Row, transaction
from shared.dmarc import repository as dmarc
from shared.events import service as events
from shared.inbound import repository as inbound
from shared.logging import get_logger
from shared.responses import policy
from shared.responses.policy import Report
from shared.tokens import TokenCodec, codec_from_settings_secrets

log = get_logger(__name__)
REPORT_KINDS = ("bounce", "dsn_success", "arf", "autoreply", "unsubscribe")


class PoisonMessage(Exception):
    """Raised to make dramatiq retry a parse that failed; the cause is in inbound_messages."""


def _codec() -> TokenCodec:
    settings = get_settings()
    return codec_from_settings_secrets([s.get_secret_value() for s in settings.token_secrets])


async def parse_inbound(pool: AsyncConnectionPool, inbound_id: int) -> str | None:
    """Parse one stored message. Idempotent: a parsed, quarantined or oversize message is left
    alone. Returns the kind it was filed as (None when nothing was done).

    Raises PoisonMessage after recording a failure that still has attempts left.
    """
    settings = get_settings()
    async with pool.connection() as conn:
        claim = await inbound.claim_for_parse(conn, inbound_id)
        await conn.commit()
    if claim is None:
        return None
    if claim["attempts"] > settings.inbound_max_attempts:
        # Attempts are counted before parsing, so this is a message that killed its workers.
        await _fail(pool, inbound_id, "gave up: the parse never finished", quarantine=True)
        return None
    try:
        if claim["sender_id"] is not None and claim["source"].startswith("esp:"):
            kind = await _apply_esp(pool, claim, _codec())
        else:
            result = await asyncio.to_thread(classify, bytes(claim["raw"]), claim["envelope_to"])
            kind = await _apply(pool, inbound_id, result, _codec())
    except Exception as error:
        quarantine = claim["attempts"] >= settings.inbound_max_attempts
        await _fail(pool, inbound_id, f"{type(error).__name__}: {error}", quarantine=quarantine)
        if quarantine:
            log.error("inbound message quarantined", inbound_id=inbound_id, error=str(error))
            return None
        raise PoisonMessage(f"inbound {inbound_id}: {error}") from error
    metrics.CLASSIFIED.labels(kind).inc()
    return kind


async def _fail(
    pool: AsyncConnectionPool, inbound_id: int, error: str, *, quarantine: bool
) -> None:
    metrics.PARSE_FAILURES.labels("quarantined" if quarantine else "retry").inc()
    async with pool.connection() as conn:
        await inbound.mark_failed(conn, inbound_id, error, quarantine=quarantine)
        await conn.commit()


async def _apply(
    pool: AsyncConnectionPool, inbound_id: int, result: Classification, codec: TokenCodec
) -> str:
    async with transaction(pool) as tx:
        locked = await inbound.lock_for_apply(tx.conn, inbound_id)
        if locked is None or locked["state"] == "parsed":
            return result.type
        if result.type in REPORT_KINDS:
            messages = await _record_responses(tx.conn, inbound_id, result, codec)
            for message in messages:
                tx.enqueue(message)
        for report in result.aggregate_reports:
            if await dmarc.store_aggregate(tx.conn, inbound_id, report) is not None:
                passed = int(report["pass_count"] or 0)
                metrics.DMARC_MESSAGES.labels("pass").inc(passed)
                metrics.DMARC_MESSAGES.labels("fail").inc(
                    max(0, int(report["message_count"] or 0) - passed)
                )
        for report in result.tls_reports:
            await dmarc.store_tls(tx.conn, inbound_id, report)
        for report in result.failure_reports:
            await dmarc.store_failure(tx.conn, inbound_id, report)
        await inbound.mark_parsed(tx.conn, inbound_id, result.type, result.error)
    return result.type


async def _apply_esp(pool: AsyncConnectionPool, claim: Row, codec: TokenCodec) -> str:
    """A stored ESP event (services/receiver/esp): the same lock, policy and marking as mail."""
    async with transaction(pool) as tx:
        locked = await inbound.lock_for_apply(tx.conn, claim["id"])
        if locked is None or locked["state"] == "parsed":
            return "duplicate"
        kind, messages = await esp_apply.apply_event(
            tx.conn,
            claim["id"],
            claim["sender_id"],
            claim["source"].split(":", 1)[1],
            bytes(claim["raw"]),
            codec,
        )
        tx.enqueue(*messages)
        await inbound.mark_parsed(tx.conn, claim["id"], kind)
    return kind


def _report(
    inbound_id: int, result: Classification, match: Match | None, recipient: Recipient | None
) -> Report:
    send = match.send if match else {}
    return Report(
        kind=result.type,
        inbound_id=inbound_id,
        sender_id=send.get("sender_id"),
        send_id=send.get("id"),
        subscriber_id=send.get("subscriber_id"),
        recipient=recipient.address.lower() if recipient else None,
        hard_or_soft=recipient.hard_or_soft if recipient else None,
        permanent=recipient.permanent if recipient else None,
        status=recipient.status if recipient else None,
        reason=recipient.reason if recipient else None,
        diagnostic=recipient.diagnostic if recipient else None,
        feedback_type=result.feedback_type,
        matched_by=match.matched_by if match else None,
        headers=result.headers,
        human_text=result.human_text,
        original=result.original,
    )


async def _record_responses(
    conn: Conn, inbound_id: int, result: Classification, codec: TokenCodec
) -> list[Any]:
    """Tie the message to its sends and apply the one bounce and complaint policy
    (shared/responses/policy.py); returns the messages to publish after COMMIT."""
    token_match, by_address = await match_sends(conn, result, codec)
    failed = [r for r in result.recipients if result.type != "bounce" or r.reason]
    reports: list[Report] = []
    if not failed:
        reports.append(_report(inbound_id, result, token_match, None))
    for rcpt in failed:
        # A token names one send: it answers for a lone recipient; several are matched by address.
        single = token_match is not None and len(failed) == 1
        match = token_match if single else by_address.get(rcpt.address.lower())
        reports.append(_report(inbound_id, result, match, rcpt))
    applied = await policy.apply(conn, reports)
    messages: list[Any] = list(applied.messages)
    for row in applied.rows:
        if not row["inserted"]:
            continue
        if row["kind"] == "bounce":
            metrics.BOUNCES.labels(row["hard_or_soft"] or "unknown").inc()
        elif row["kind"] == "arf":
            metrics.COMPLAINTS.inc()
        if row["kind"] == "unsubscribe" and row["send_id"] is not None:
            messages += await _unsubscribe(conn, row["send_id"])
    return messages


async def _unsubscribe(conn: Conn, send_id: int) -> list[Any]:
    """A mail to the List-Unsubscribe mailto address: the same unsubscribe as the public page."""
    result = await events.unsubscribe(conn, send_id, source="mailto", ip=None, user_agent=None)
    return list(result.messages) if result is not None else []
