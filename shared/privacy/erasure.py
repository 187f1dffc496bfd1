"""GDPR erasure: after it, the subscriber's address is stored nowhere in the database.

What goes: the subscriber row (address, locale, properties), and the address or anything tied
to the person wherever it was copied: event IP addresses and user agents, bounce and complaint
reports (recipient, headers, the returned message), the raw inbound mail behind them, SMTP
replies, webhook payloads and delivery errors, stored Idempotency-Key answers, import errors,
DMARC failure report fields, rate-limit counters (the ``erase`` block in ``queries.sql`` lists
each).

What stays, holding no address:
- sends and events as anonymous counts (statistics do not change);
- consent records as proof (action, source, time, hash of the wording shown), detached from the
  subscriber and tagged with a keyed hash of the address (db/0100), plus an ``erase_request``
  record saying who asked;
- one row in ``erased_addresses`` with the same keyed hash, so an import that brings the
  address back can warn, and the owner can still prove what the person agreed to if they ask.

The hash is HMAC-SHA256 under ``TART_ERASURE_KEY`` (never stored in the database), salted by
sender: without the key, nobody can test whether an address is in the table.

Not covered: copies outside PostgreSQL (backups, WAL, server logs, the SMTP relay's queue), and
an address inside a base64-encoded part of a raw inbound message that is tied to no report (raw
messages tied to the subscriber's reports are emptied whole).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from shared.config import Settings
from shared.consent import service as consent
from shared.db import Conn
from shared.logging import get_logger
from shared.privacy import repository

log = get_logger(__name__)


def erasure_key(settings: Settings) -> bytes:
    """``TART_ERASURE_KEY`` as the HMAC key."""
    return settings.erasure_key.get_secret_value().encode("utf-8")


def address_hash(key: bytes, sender_id: int, address: str) -> bytes:
    """The keyed hash kept for an erased address: HMAC-SHA256(key, "<sender id>\\x1f<address>")
    with the address lower-cased, as subscribers store it."""
    message = f"{sender_id}\x1f{address.strip().lower()}".encode()
    return hmac.digest(key, message, hashlib.sha256)


async def erase(
    conn: Conn,
    sender_id: int,
    subscriber_id: int,
    *,
    key: bytes,
    source: str,
    source_ref: str | None = None,
) -> bool:
    """Erase one subscriber of a sender inside the caller's transaction.

    Parameters:
        key: ``settings.erasure_key`` as bytes.
        source, source_ref: who asked (``api`` and the key id, ``admin`` and the user id); kept
            in the ``erase_request`` consent record.

    Returns:
        False when the sender has no such subscriber.
    """
    target = await repository.lock_target(conn, sender_id, subscriber_id)
    if target is None:
        return False
    await consent.record(
        conn,
        sender_id=sender_id,
        subscriber_id=subscriber_id,
        action="erase_request",
        source=source,
        source_ref=source_ref,
    )
    erased = await repository.erase(
        conn, sender_id, subscriber_id, address_hash(key, sender_id, target["address"])
    )
    log.info("subscriber erased", sender_id=sender_id, subscriber_id=subscriber_id)
    return erased


async def drop_erased(
    conn: Conn, sender_id: int, key: bytes, rows: list[tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], list[int]]:
    """A CSV import's staged rows ``(line, address, ...)`` without the addresses this sender
    erased: an old export must not bring back someone who asked to be forgotten (they may
    still subscribe again themselves, through a form or the API). Returns the rows to import
    and the lines refused."""
    hashes = [address_hash(key, sender_id, row[1]) for row in rows]
    erased = await repository.erased_among(conn, sender_id, hashes)
    if not erased:
        return rows, []
    kept = [row for row, h in zip(rows, hashes, strict=True) if h not in erased]
    refused = [row[0] for row, h in zip(rows, hashes, strict=True) if h in erased]
    return kept, refused


async def has_erased(conn: Conn, sender_id: int) -> bool:
    """Whether the sender ever erased anyone (an import hashes its rows only then)."""
    return await repository.has_erased(conn, sender_id)
