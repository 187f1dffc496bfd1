"""Event rules: durable unsubscribes (from a link, a mailto, the API or the admin: one path) and
resubscribes, and set-based recording of batched opens, views and clicks.

Services never commit: callers pass a connection inside their transaction and publish the
returned messages after COMMIT.

Anonymous tracking (``senders.anonymous_events``) means the sender keeps no record of what one
person did with a message: when, from where, with what, or which link. Concretely:

- an open, view or click is stored in ``send_events`` with no send, no subscriber, no IP address
  and no user agent: only the email, the variation, the kind, the time, the link index and the
  machine/proxy flags, which are facts about the message, not about the reader;
- its send gets no first-open, first-view or first-click time and no open or click webhook is
  logged (either would name who opened and when);
- its send does get counters (opens, of which proxied, views, clicks, machine opens and
  clicks): the least that counting unique openers and clickers per email, variation, locale and
  day needs, so the statistics and the A/B winner read the same numbers for both kinds of
  sender. The API does not show these counters per send or per subscriber, only summed
  (``shared/statistics``), and per link there are clicks but no unique clickers;
- an unsubscribe still changes the subscriber and ``sends.unsubscribed_at`` (it must, to stop
  mail), with an event that carries no send, subscriber, IP or user agent either.

It is a promise about what the product stores and shows, not about its operators: every link
names its send, so the public service sees which send is opened (and a web server log would
too), and someone reading the database's internals could match a counter update to the events
written in the same transaction.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.consent import service as consent
from shared.db import Conn, Row
from shared.events import repository
from shared.events.machine import classify, clean_ip
from shared.events.models import (
    BUFFERED_KINDS,
    MAX_USER_AGENT,
    ResubscribeResult,
    UnsubscribeResult,
    WireEvent,
)
from shared.logging import get_logger
from shared.subscribers import repository as subscribers

log = get_logger(__name__)
UNSUBSCRIBE_SOURCES = ("page", "one_click", "mailto", "api", "admin", "preferences")
# How each unsubscribe source is named in a consent record (shared/consent).
CONSENT_SOURCES = {
    "page": "email_link",
    "one_click": "one_click",
    "mailto": "mailto",
    "api": "api",
    "admin": "admin",
    "preferences": "preferences",
}
BATCH_RETENTION_DAYS = 7


async def unsubscribe(
    conn: Conn, send_id: int, *, source: str, ip: str | None, user_agent: str | None
) -> UnsubscribeResult | None:
    """Unsubscribe the recipient of a send. Idempotent and durable once the caller commits.

    Marks the subscriber unsubscribed (only from ``active``), keeps the first unsubscribe time on
    the send, records one ``unsubscribe`` event (the first time only), cancels every queued send
    of the subscriber (held A/B sends too) and logs the ``unsubscribe`` webhook.

    Parameters:
      conn: a connection inside the caller's transaction.
      send_id: the send whose token was used.
      source: how it came: ``page``, ``one_click`` (RFC 8058), ``mailto``, ``api`` or ``admin``.
      ip, user_agent: the request's, stored unless the sender counts events anonymously.

    Returns:
      the result (``messages`` to publish after COMMIT), or None when the send does not exist.
    """
    if source not in UNSUBSCRIBE_SOURCES:
        raise ValueError(f"unknown unsubscribe source {source!r}")
    send = await repository.lock_send(conn, send_id)
    if send is None:
        return None
    sender_id, subscriber_id = send["sender_id"], send["subscriber_id"]
    changed, cancelled = await _stop(conn, sender_id, subscriber_id)
    await repository.mark_send_unsubscribed(conn, send_id)
    messages: list[Any] = []
    if changed is not None:
        anonymous = send["anonymous_events"]
        await repository.insert_event(
            conn,
            send_id=None if anonymous else send_id,
            email_id=send["email_id"],
            variation_id=send["variation_id"],
            subscriber_id=None if anonymous else subscriber_id,
            kind="unsubscribe",
            ip=None if anonymous else clean_ip(ip),
            user_agent=None if anonymous else _clean_text(user_agent),
            detail={"source": source},
        )
        if subscriber_id is not None:
            await consent.record(
                conn,
                sender_id=sender_id,
                subscriber_id=subscriber_id,
                action="unsubscribe",
                source=CONSENT_SOURCES[source],
                source_ref=str(send_id),
                ip=None if anonymous else clean_ip(ip),
                user_agent=None if anonymous else _clean_text(user_agent),
            )
        messages = await _emit_unsubscribe(
            conn, sender_id, subscriber_id, changed["address"], source, send=send
        )
    log.info(
        "unsubscribe",
        send_id=send_id,
        sender_id=sender_id,
        already=changed is None,
        source=source,
        cancelled=cancelled,
    )
    return UnsubscribeResult(
        already=changed is None,
        sender_id=sender_id,
        subscriber_id=subscriber_id,
        email_id=send["email_id"],
        cancelled=cancelled,
        messages=messages,
    )


async def unsubscribe_subscriber(
    conn: Conn,
    sender_id: int,
    subscriber_id: int,
    *,
    source: str,
    source_ref: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> UnsubscribeResult | None:
    """Unsubscribe a subscriber the API or the admin names, with no send behind it: the same
    state change (with ``state_changed_at``), cancelled queued sends and ``unsubscribe`` webhook
    as ``unsubscribe``. There is no send event, since no email was answered. A change writes
    an ``unsubscribe`` consent record naming ``source_ref`` (API key id, admin user id, the send
    of a preference-center link).

    Returns:
      the result (``messages`` to publish after COMMIT), or None when the sender has no such
      subscriber.
    """
    if source not in UNSUBSCRIBE_SOURCES:
        raise ValueError(f"unknown unsubscribe source {source!r}")
    subscriber = await repository.lock_subscriber(conn, sender_id, subscriber_id)
    if subscriber is None:
        return None
    changed, cancelled = await _stop(conn, sender_id, subscriber_id)
    messages: list[Any] = []
    if changed is not None:
        await consent.record(
            conn,
            sender_id=sender_id,
            subscriber_id=subscriber_id,
            action="unsubscribe",
            source=CONSENT_SOURCES[source],
            source_ref=source_ref,
            ip=clean_ip(ip),
            user_agent=_clean_text(user_agent),
        )
        messages = await _emit_unsubscribe(
            conn, sender_id, subscriber_id, changed["address"], source, send=None
        )
    log.info(
        "unsubscribe",
        subscriber_id=subscriber_id,
        sender_id=sender_id,
        already=changed is None,
        source=source,
        cancelled=cancelled,
    )
    return UnsubscribeResult(
        already=changed is None,
        sender_id=sender_id,
        subscriber_id=subscriber_id,
        email_id=None,
        cancelled=cancelled,
        messages=messages,
    )


async def update_subscriber(
    conn: Conn,
    sender_id: int,
    subscriber_id: int,
    changes: dict[str, Any],
    *,
    source: str,
    source_ref: str | None = None,
) -> tuple[Row | None, list[Any]]:
    """A change to a subscriber by the API or the admin (``source``, ``source_ref``: the key or
    admin user id). A change of state to ``unsubscribed`` goes through
    ``unsubscribe_subscriber``, like an unsubscribe from a link; the other fields (and other
    states) are written as given. ``unsubscribed`` -> ``active`` writes a ``resubscribe``
    consent record.

    Returns:
      the subscriber after the change (None when the sender has no such subscriber) and the
      messages to publish after COMMIT.
    """
    changes = dict(changes)
    messages: list[Any] = []
    if changes.get("state") == "unsubscribed":
        del changes["state"]
        result = await unsubscribe_subscriber(
            conn, sender_id, subscriber_id, source=source, source_ref=source_ref
        )
        if result is None:
            return None, []
        messages = result.messages
    before = None
    if changes.get("state") == "active":
        before = await repository.lock_subscriber(conn, sender_id, subscriber_id)
    row = await subscribers.update(conn, sender_id, subscriber_id, changes)
    if row is not None and before is not None and before["state"] == "unsubscribed":
        await consent.record(
            conn,
            sender_id=sender_id,
            subscriber_id=subscriber_id,
            action="resubscribe",
            source=CONSENT_SOURCES[source],
            source_ref=source_ref,
        )
    return row, messages


async def _stop(
    conn: Conn, sender_id: int, subscriber_id: int | None
) -> tuple[dict[str, Any] | None, int]:
    """The subscriber's side of every unsubscribe: active or pending -> unsubscribed
    (state_changed_at set), and every queued send cancelled. Returns the changed row (None when
    it was neither or was erased) and how many sends were cancelled."""
    if subscriber_id is None:
        return None, 0
    changed = await repository.unsubscribe_subscriber(conn, sender_id, subscriber_id)
    cancelled = await repository.cancel_queued_sends(conn, sender_id, subscriber_id)
    return changed, cancelled


async def _emit_unsubscribe(
    conn: Conn,
    sender_id: int,
    subscriber_id: int | None,
    address: str,
    source: str,
    *,
    send: dict[str, Any] | None,
) -> list[Any]:
    # Imported here: the webhooks module pulls in the broker, which the pure parts of this
    # package (and the receiver's classifiers) do not need.
    from shared.webhooks.service import emit

    payload = {
        "send_id": send["id"] if send else None,
        "email_id": send["email_id"] if send else None,
        "subscriber_id": subscriber_id,
        "address": address,
        "source": source,
    }
    return await emit(conn, sender_id, "unsubscribe", payload)


async def resubscribe(
    conn: Conn,
    send_id: int,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    source: str = "page",
) -> ResubscribeResult | None:
    """Undo an unsubscribe made by mistake: the subscriber becomes active again.

    A bounced or complained subscriber stays as they are, and sends cancelled by the unsubscribe
    stay cancelled (a later campaign reaches the subscriber again). Returns None when the send does
    not exist.
    """
    send = await repository.lock_send(conn, send_id)
    if send is None:
        return None
    changed = False
    if send["subscriber_id"] is not None:
        changed = await repository.resubscribe_subscriber(
            conn, send["sender_id"], send["subscriber_id"]
        )
    if changed:
        anonymous = send["anonymous_events"]
        await consent.record(
            conn,
            sender_id=send["sender_id"],
            subscriber_id=send["subscriber_id"],
            action="resubscribe",
            source=CONSENT_SOURCES[source],
            source_ref=str(send_id),
            ip=None if anonymous else clean_ip(ip),
            user_agent=None if anonymous else _clean_text(user_agent),
        )
    log.info("resubscribe", send_id=send_id, sender_id=send["sender_id"], changed=changed)
    return ResubscribeResult(
        changed=changed, sender_id=send["sender_id"], subscriber_id=send["subscriber_id"]
    )


def _clean_text(value: str | None) -> str | None:
    """A header value PostgreSQL can store (no NUL), bounded, or None."""
    if not value:
        return None
    return value.replace("\x00", "")[:MAX_USER_AGENT] or None


def _columns(
    events: Sequence[WireEvent], facts: dict[int, dict[str, Any]], scanner_click_seconds: float
) -> dict[str, list[Any]]:
    """Classify each event and lay the batch out as column arrays for one unnest() insert."""
    cols: dict[str, list[Any]] = {
        name: []
        for name in (
            "send_ids", "email_ids", "variation_ids", "subscriber_ids", "kinds", "ats", "ips",
            "user_agents", "links", "machine", "reasons", "proxies", "attach",
        )
    }  # fmt: skip
    for send_id, code, at, ip, user_agent, link in events:
        fact = facts.get(send_id)
        kind = BUFFERED_KINDS.get(code)
        if fact is None or kind is None:
            continue  # the send was deleted meanwhile, or a malformed entry: nothing to record
        when = datetime.fromtimestamp(at, UTC)
        sent_at = fact["sent_at"]
        since = (when - sent_at).total_seconds() if sent_at is not None else None
        verdict = classify(kind, ip, user_agent, since, scanner_click_seconds=scanner_click_seconds)
        cols["send_ids"].append(send_id)
        cols["email_ids"].append(fact["email_id"])
        cols["variation_ids"].append(fact["variation_id"])
        cols["subscriber_ids"].append(fact["subscriber_id"])
        cols["kinds"].append(kind)
        cols["ats"].append(when)
        cols["ips"].append(clean_ip(ip))
        cols["user_agents"].append(_clean_text(user_agent))
        cols["links"].append(link)
        cols["machine"].append(verdict.machine)
        cols["reasons"].append(verdict.reason)
        cols["proxies"].append(verdict.proxy)
        cols["attach"].append(not fact["anonymous_events"])
    return cols


def traffic(columns: dict[str, list[Any]]) -> Counter[tuple[str, str]]:
    """Events of a batch by (kind, traffic): ``human``, ``proxied`` (human, through a mail
    provider's image proxy) or ``machine``, by the same verdicts the batch is recorded with."""
    return Counter(
        (kind, "machine" if machine else "proxied" if proxy else "human")
        for kind, machine, proxy in zip(
            columns["kinds"], columns["machine"], columns["proxies"], strict=True
        )
    )


@dataclass(frozen=True)
class Recorded:
    """What a batch wrote: events inserted, the webhook messages to publish after COMMIT (the
    first human open and click of each send, for senders subscribed to them), and the events by
    (kind, traffic) for the worker's metrics."""

    events: int
    messages: list[Any] = field(default_factory=list)
    traffic: Counter[tuple[str, str]] = field(default_factory=Counter)


async def record_events(
    conn: Conn,
    batch_id: str,
    events: Sequence[WireEvent],
    *,
    scanner_click_seconds: float = 10.0,
) -> Recorded:
    """Record one batch of buffered opens, views and clicks. Idempotent per ``batch_id``.

    Three statements whatever the batch size: claim the batch id, read the sends' facts, and one
    insert-update-log statement. Events of deleted sends are dropped. A batch already recorded
    writes nothing (``events == 0``).
    """
    if not await repository.claim_batch(conn, uuid.UUID(batch_id), len(events)):
        log.info("event batch already recorded", batch_id=batch_id)
        return Recorded(0)
    send_ids = sorted({int(event[0]) for event in events})
    facts = await repository.batch_send_facts(conn, send_ids)
    columns = _columns(events, facts, scanner_click_seconds)
    if not columns["send_ids"]:
        return Recorded(0)
    result = await repository.record_batch(conn, columns)
    from shared.webhooks.service import deliver_message

    messages = [deliver_message(delivery_id) for delivery_id in result["delivery_ids"]]
    return Recorded(int(result["inserted"]), messages, traffic(columns))


async def prune_batch_ids(conn: Conn) -> int:
    """Drop batch ids older than any redelivery (called now and then by the actor)."""
    return await repository.prune_batches(conn, BATCH_RETENTION_DAYS)
