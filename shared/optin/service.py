"""The rules of joining a list, in one place for the public forms, the API and the scheduler.

- A new address from a double opt-in form (or the API with ``double_opt_in``) starts
  ``pending`` and gets a confirmation mail; without double opt-in it starts ``active`` and gets
  the welcome email.
- The same address again: a pending subscriber's answers are replaced and the confirmation is
  mailed again, at most once per ``optin_resend_minutes``; an unsubscribed one is mailed a
  confirmation (coming back always needs the person's own confirmation); an active, bounced or
  complained one is left alone. The caller answers the same in every case (no enumeration).
- Confirming makes the subscriber active and queues the welcome email once.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from shared.campaigns.models import batch_message
from shared.config import Settings
from shared.consent import service as consent
from shared.db import Conn, Row, Transaction, transaction
from shared.errors import Conflict
from shared.jobs import OPTIN_CONFIRMATION, job
from shared.logging import get_logger
from shared.optin import repository as repo

log = get_logger(__name__)
PURGE_BATCH = 5000


@dataclass(frozen=True)
class Submission:
    """One validated request to join: who, in which language, with which answers."""

    address: str
    locale: str
    properties: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None
    user_agent: str | None = None
    text_hash: str | None = None  # of the form as the person saw it (consent proof)


@dataclass(frozen=True)
class Outcome:
    """What a submission did (for tests and logs; never shown to the visitor)."""

    subscriber_id: int | None
    action: str  # created_pending, created_active, resent, resend_limited, reconfirm, ignored


async def ask_confirmation(
    tx: Transaction,
    sender_id: int,
    subscriber_id: int,
    *,
    form_id: int | None,
    resend_minutes: int,
) -> bool:
    """Queue a confirmation mail unless one went out too recently; True when queued."""
    confirmation_id = await repo.open_confirmation(
        tx.conn, sender_id, subscriber_id, form_id, resend_minutes
    )
    if confirmation_id is None:
        return False
    tx.enqueue(job(OPTIN_CONFIRMATION, confirmation_id))
    return True


async def queue_welcome(
    tx: Transaction, sender_id: int, subscriber_id: int, email_id: int | None
) -> int | None:
    """Queue the welcome email for a subscriber whose subscription just started; the send id,
    or None when there is none to send or it was sent before."""
    if email_id is None:
        return None
    send = await repo.queue_welcome(tx.conn, sender_id, subscriber_id, email_id)
    if send is None:
        return None
    tx.enqueue(batch_message(send["email_id"], send["id"], send["id"]))
    return int(send["id"])


async def create_pending(
    tx: Transaction,
    sender_id: int,
    *,
    address: str,
    locale: str,
    properties: dict[str, Any],
    resend_minutes: int,
    api_key_id: int,
) -> Row:
    """The API's create with double opt-in: a pending subscriber, its consent record (source
    ``api``, the key's id) and its confirmation mail.

    Raises:
      Conflict: the address exists (as for a create without double opt-in).
    """
    row = await repo.insert_subscriber(
        tx.conn, sender_id, address=address, locale=locale, properties=properties,
        state="pending",
    )  # fmt: skip
    if row is None:
        raise Conflict("a subscriber with this address exists")
    await consent.record(
        tx.conn, sender_id=sender_id, subscriber_id=int(row["id"]), action="subscribe",
        source="api", source_ref=str(api_key_id), detail={"double_opt_in": True},
    )  # fmt: skip
    await ask_confirmation(
        tx, sender_id, int(row["id"]), form_id=None, resend_minutes=resend_minutes
    )
    return row


async def subscribe(
    tx: Transaction, form: Row, submission: Submission, *, settings: Settings
) -> Outcome:
    """Apply one form submission (already validated and not throttled)."""
    sender_id, form_id = int(form["sender_id"]), int(form["id"])
    conn = tx.conn

    async def consented(subscriber_id: int) -> None:
        await consent.record(
            conn, sender_id=sender_id, subscriber_id=subscriber_id, action="subscribe",
            source="form", source_ref=str(form_id), ip=submission.ip,
            user_agent=submission.user_agent, text_hash=submission.text_hash,
            detail={"locale": submission.locale, "double_opt_in": bool(form["double_opt_in"])},
        )  # fmt: skip

    existing = await repo.lock_by_address(conn, sender_id, submission.address)
    if existing is None:
        state = "pending" if form["double_opt_in"] else "active"
        created = await repo.insert_subscriber(
            conn, sender_id, address=submission.address, locale=submission.locale,
            properties=submission.properties, state=state,
        )  # fmt: skip
        if created is not None:
            subscriber_id = int(created["id"])
            await consented(subscriber_id)
            if state == "pending":
                await ask_confirmation(
                    tx, sender_id, subscriber_id, form_id=form_id,
                    resend_minutes=settings.optin_resend_minutes,
                )  # fmt: skip
                return Outcome(subscriber_id, "created_pending")
            welcome = form["welcome_email_id"] or await repo.sender_welcome(conn, sender_id)
            await queue_welcome(tx, sender_id, subscriber_id, welcome)
            return Outcome(subscriber_id, "created_active")
        # created by a concurrent submission since we looked: treat it as existing
        existing = await repo.lock_by_address(conn, sender_id, submission.address)
        if existing is None:
            return Outcome(None, "ignored")
    subscriber_id = int(existing["id"])
    if existing["state"] in ("pending", "unsubscribed"):
        await consented(subscriber_id)  # asked again; confirming is recorded on its own
    if existing["state"] == "pending":
        await repo.update_pending(
            conn, subscriber_id, locale=submission.locale, properties=submission.properties
        )
        sent = await ask_confirmation(
            tx, sender_id, subscriber_id, form_id=form_id,
            resend_minutes=settings.optin_resend_minutes,
        )  # fmt: skip
        return Outcome(subscriber_id, "resent" if sent else "resend_limited")
    if existing["state"] == "unsubscribed":
        sent = await ask_confirmation(
            tx, sender_id, subscriber_id, form_id=form_id,
            resend_minutes=settings.optin_resend_minutes,
        )  # fmt: skip
        return Outcome(subscriber_id, "reconfirm" if sent else "resend_limited")
    return Outcome(subscriber_id, "ignored")


@dataclass(frozen=True)
class Confirmed:
    """A confirmed subscription: who, from which state, through which form, and the welcome
    send queued for it (None when there is none to send, or it went before)."""

    subscriber_id: int
    sender_id: int
    previous_state: str
    form_id: int | None
    welcome_send_id: int | None


async def confirm(
    tx: Transaction,
    confirmation_id: int,
    subscriber_id: int,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    text_hash: str | None = None,
) -> Confirmed | None:
    """Confirm the subscription a link names; None when it is closed (confirmed before, purged,
    or the subscriber bounced or complained meanwhile). Writes the consent record: ``confirm``
    for a new subscriber, ``resubscribe`` for one who had unsubscribed."""
    row = await repo.confirm(tx.conn, confirmation_id, subscriber_id)
    if row is None:
        return None
    await consent.record(
        tx.conn, sender_id=row["sender_id"], subscriber_id=row["id"],
        action="confirm" if row["previous_state"] == "pending" else "resubscribe",
        source=row["source"],
        source_ref=None if row["form_id"] is None else str(row["form_id"]),
        ip=ip, user_agent=user_agent, text_hash=text_hash,
        detail={"via": "confirmation_link"},
    )  # fmt: skip
    send_id = await queue_welcome(tx, row["sender_id"], row["id"], row["welcome_email_id"])
    log.info(
        "subscription confirmed", subscriber_id=row["id"], previous_state=row["previous_state"]
    )
    return Confirmed(row["id"], row["sender_id"], row["previous_state"], row["form_id"], send_id)


async def requeue_unmailed(tx: Transaction, age_seconds: float) -> int:
    """Queue the mail again for confirmations whose mail never went out (the sweep)."""
    ids = await repo.unmailed_confirmations(tx.conn, age_seconds)
    tx.enqueue(*(job(OPTIN_CONFIRMATION, confirmation_id) for confirmation_id in ids))
    return len(ids)


def throttle_keys(secret: bytes, sender_id: int, ip: str | None, address: str) -> list[str]:
    """rate_counters keys of one submission: per client IP (across forms and senders) and per
    address (per sender). Keyed hashes, so the counters never hold an address or an IP."""

    def digest(text: str) -> str:
        return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:32]

    return [f"form-ip:{digest(ip or '-')}", f"form-addr:{digest(f'{sender_id}:{address}')}"]


async def throttled(conn: Conn, keys: list[str], *, per_ip: int, per_address: int) -> bool:
    """Count a submission; True when the IP or the address is over its hourly limit."""
    counts = await repo.count_submission(conn, keys)
    return counts.get(keys[0], 0) > per_ip or counts.get(keys[1], 0) > per_address


async def purge_pending(pool: AsyncConnectionPool, days: int, *, batch: int = PURGE_BATCH) -> int:
    """Delete pending subscribers who did not confirm within ``days`` (and close unanswered
    confirmations of unsubscribed ones), ``batch`` rows per transaction so no lock is held
    long. Returns how many subscribers went."""
    total = 0
    while True:
        async with transaction(pool) as tx:
            purged = await repo.purge_pending(tx.conn, days, batch)
            closed = await repo.purge_stale_confirmations(tx.conn, days, batch)
        total += purged
        if purged < batch and closed < batch:
            if total:
                log.info("pending subscribers purged", count=total, days=days)
            return total
