"""What inbound.parse does with a stored ESP event: read it, tie it to the sender's send (by the
provider's own message id, which is the queue id its relay named in the 250 we kept in
sends.relay_id; else by the token in the original's Message-ID or token header; else by the
address) and apply the one response policy (``shared.responses.policy``), exactly as for a DSN or
an ARF report."""

from __future__ import annotations

import re
from typing import Any

from services.receiver import metrics
from services.receiver.esp.events import BOUNCE, COMPLAINT, EspEvent, EspRecipient, read_event
from shared.db import Conn, Row
from shared.responses import policy
from shared.responses import repository as responses
from shared.responses.policy import Report
from shared.tokens import TokenCodec

_TOKEN = re.compile(r"^<?([A-Za-z2-7]{32})(?:@|>?$)")


def relay_id_of(event: EspEvent) -> str | None:
    """The relay queue id an event's provider message id stands for (what sends.relay_id holds):
    SES ``mail.messageId`` and Postmark ``MessageID`` as they are, SendGrid's ``sg_message_id``
    up to its first "." (the 250's id, then SendGrid's own suffix). Mailgun's is the Message-ID
    header, which the token already covers."""
    value = (event.provider_message_id or "").strip()
    if event.provider == "sendgrid":
        value = value.split(".", 1)[0]
    if event.provider not in ("ses", "sendgrid", "postmark") or not value or len(value) > 128:
        return None
    return value


def _tokens(event: EspEvent, codec: TokenCodec) -> list[tuple[int, str]]:
    """(send_id, matched_by) from the tokens the event carries, best first."""
    found: list[tuple[int, str]] = []
    for value, how in ((event.token_header, "token_header"), (event.message_id, "message_id")):
        match = _TOKEN.match((value or "").strip())
        send_id = codec.decode(match.group(1).lower()) if match else None
        if send_id is not None and all(send_id != s for s, _ in found):
            found.append((send_id, how))
    return found


async def _match(
    conn: Conn, sender_id: int, event: EspEvent, codec: TokenCodec
) -> tuple[tuple[Row, str] | None, dict[str, tuple[Row, str]]]:
    """The send the event's provider message id or else its token names (only the sender's own),
    and per recipient address the sender's latest send to it."""
    token_match = None
    relay_id = relay_id_of(event)
    if relay_id is not None:
        row = await responses.sender_send_by_relay_id(conn, sender_id, relay_id)
        if row is not None:
            token_match = (row, "relay_id")
    candidates = _tokens(event, codec) if token_match is None else []
    if candidates:
        rows = {
            r["id"]: r
            for r in await responses.sender_sends_by_ids(
                conn, sender_id, [s for s, _ in candidates]
            )
        }
        token_match = next(((rows[s], how) for s, how in candidates if s in rows), None)
    by_address: dict[str, tuple[Row, str]] = {}
    if token_match is None or len(event.recipients) > 1:
        for rcpt in event.recipients:
            row = await responses.sender_latest_send_to(conn, sender_id, rcpt.address)
            if row is not None:
                by_address[rcpt.address] = (row, "recipient")
    return token_match, by_address


def _report(
    inbound_id: int,
    sender_id: int,
    event: EspEvent,
    rcpt: EspRecipient,
    match: tuple[Row, str] | None,
) -> Report:
    send = match[0] if match else {}
    return Report(
        kind=event.kind,
        inbound_id=inbound_id,
        sender_id=sender_id,
        send_id=send.get("id"),
        subscriber_id=send.get("subscriber_id"),
        recipient=rcpt.address,
        hard_or_soft=rcpt.hard_or_soft,
        permanent=rcpt.permanent,
        status=rcpt.status,
        reason=rcpt.reason,
        diagnostic=rcpt.diagnostic,
        feedback_type=event.feedback_type,
        matched_by=match[1] if match else None,
        headers=[
            [name, value]
            for name, value in (
                ("X-ESP-Provider", event.provider),
                ("X-ESP-Event-Id", event.event_id),
                ("X-ESP-Message-Id", event.provider_message_id),
                ("Message-ID", event.message_id),
            )
            if value
        ],
    )


async def apply_event(
    conn: Conn, inbound_id: int, sender_id: int, provider: str, raw: bytes, codec: TokenCodec
) -> tuple[str, list[Any]]:
    """Apply one stored event inside the caller's transaction.

    Returns:
      the kind it is filed as, and the webhook messages to publish after COMMIT.
    """
    event = read_event(provider, raw)
    if event.kind not in (BOUNCE, COMPLAINT) or not event.recipients:
        return event.kind, []
    token_match, by_address = await _match(conn, sender_id, event, codec)
    reports = []
    for rcpt in event.recipients:
        # A token names one send: it answers for a lone recipient; several match by address.
        single = token_match is not None and len(event.recipients) == 1
        match = token_match if single else by_address.get(rcpt.address)
        reports.append(_report(inbound_id, sender_id, event, rcpt, match))
    applied = await policy.apply(conn, reports)
    for row in applied.rows:
        if row["inserted"] and row["kind"] == "bounce":
            metrics.BOUNCES.labels(row["hard_or_soft"] or "unknown").inc()
        elif row["inserted"] and row["kind"] == "arf":
            metrics.COMPLAINTS.inc()
    return event.kind, list(applied.messages)
