"""What the API, the admin and other code (double opt-in confirmations, welcome mails) call to
queue transactional sends. Runs on the caller's connection inside its transaction, filters by
``sender_id`` and returns the jobs to enqueue after COMMIT (``Transaction.enqueue``).

A transactional send may repeat for the same subscriber, may go to an address that is no
subscriber (no subscriber row is created), is refused for suppressed recipients
(``models.suppression_reason``), and goes through the priority lane (``send.priority``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.config import get_settings
from shared.db import Conn, Row
from shared.errors import AppError, Conflict, Gone, NotFound, Unprocessable
from shared.jobs import SEND_PRIORITY, Job, job
from shared.privacy.erasure import address_hash, erasure_key
from shared.subscribers.validation import address_error
from shared.transactional import repository as repo
from shared.transactional.models import MAX_BATCH, Payload, check_payload, suppression_reason

# Sends per send.priority message: small, so a batch of 500 spreads over the worker threads.
PRIORITY_RANGE = 25


@dataclass(frozen=True)
class SendRequest:
    """One transactional send: the email, exactly one of ``to`` (any address) or
    ``subscriber_id``, and its payload (raw; checked by ``queue_sends``)."""

    email_id: int
    to: str | None = None
    subscriber_id: int | None = None
    data: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    attachments: Sequence[Mapping[str, Any]] | None = None


@dataclass
class Outcome:
    """The answer to one request of a batch: the send row, or the error that refused it."""

    index: int
    send: Row | None = None
    error: AppError | None = None


@dataclass
class Queued:
    """What ``queue_sends`` did: one outcome per request, in order, and the jobs to enqueue."""

    outcomes: list[Outcome] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)


def priority_jobs(email_id: int, ids: Sequence[int]) -> list[Job]:
    """send.priority jobs covering ``ids`` of one email, in ranges of PRIORITY_RANGE rows."""
    out: list[Job] = []
    ordered = sorted(ids)
    for start in range(0, len(ordered), PRIORITY_RANGE):
        chunk = ordered[start : start + PRIORITY_RANGE]
        out.append(job(SEND_PRIORITY, email_id, chunk[0], chunk[-1]))
    return out


def _normal_address(value: str) -> str:
    address = value.strip().lower()
    error = address_error(address)
    if error:
        raise Unprocessable(f"to: {error}")
    return address


async def queue_sends(conn: Conn, sender_id: int, requests: Sequence[SendRequest]) -> Queued:
    """Check and store up to MAX_BATCH transactional sends, each answered on its own: a refused
    request does not stop the others. Set-based: three round trips whatever the count."""
    if len(requests) > MAX_BATCH:
        raise Unprocessable(f"messages: at most {MAX_BATCH} in one batch")
    settings = get_settings()
    result = Queued([Outcome(i) for i in range(len(requests))])
    emails = await repo.get_emails(conn, sender_id, sorted({r.email_id for r in requests}))
    checked: list[tuple[int, SendRequest, str | None, Payload]] = []
    for i, request in enumerate(requests):
        try:
            email = emails.get(request.email_id)
            if email is None:
                raise NotFound(f"email {request.email_id} not found")
            if not email["transactional"]:
                raise Conflict(f"email {request.email_id} is not transactional")
            if email["state"] == "cancelled":
                raise Conflict(f"email {request.email_id} is cancelled")
            if not email["has_variation"]:
                raise Conflict(f"email {request.email_id}: needs an active variation to send")
            if (request.to is None) == (request.subscriber_id is None):
                raise Unprocessable("give exactly one of to or subscriber_id")
            to = None if request.to is None else _normal_address(request.to)
            payload = check_payload(
                request.data, request.headers, list(request.attachments or []),
                data_max_bytes=settings.transactional_data_max_bytes,
                attachments_max_bytes=settings.transactional_attachments_max_bytes,
            )  # fmt: skip
            checked.append((i, request, to, payload))
        except AppError as error:
            result.outcomes[i].error = error
    ids = sorted({r.subscriber_id for _, r, _, _ in checked if r.subscriber_id is not None})
    addresses = sorted({to for _, _, to, _ in checked if to is not None})
    key = erasure_key(settings)
    hashes = [address_hash(key, sender_id, a) for a in addresses]
    found = await repo.recipients(conn, sender_id, ids, addresses, hashes)
    by_id = {row["id"]: row for row in found if row["id"] is not None}
    by_address = {row["address"]: row for row in found}
    items: list[dict[str, Any]] = []
    for i, request, to, payload in checked:
        recipient = by_id.get(request.subscriber_id) if to is None else by_address.get(to)
        if to is None and recipient is None:
            result.outcomes[i].error = NotFound(f"subscriber {request.subscriber_id} not found")
            continue
        subscriber_id = None if recipient is None else recipient["id"]
        state = None if recipient is None or subscriber_id is None else recipient["state"]
        reason = suppression_reason(state, recipient is not None and bool(recipient["erased"]))
        if reason is not None:
            result.outcomes[i].error = Gone(f"recipient is suppressed: {reason}")
            continue
        items.append({
            "ord": i,
            "email_id": request.email_id,
            "subscriber_id": subscriber_id,
            # An address that is a subscriber is sent as that subscriber (properties, events).
            "address": to if subscriber_id is None else None,
            "data": payload.data,
            "headers": payload.headers,
            "attachments": [a.to_json() for a in payload.attachments],
        })  # fmt: skip
    rows = await repo.insert_sends(conn, sender_id, items)
    by_email: dict[int, list[int]] = {}
    for row in rows:
        result.outcomes[row["ord"]].send = row
        by_email.setdefault(row["email_id"], []).append(row["id"])
    for email_id, send_ids in by_email.items():
        result.jobs.extend(priority_jobs(email_id, send_ids))
    return result


async def queue_send(
    conn: Conn,
    *,
    sender_id: int,
    email_id: int,
    to: str | None = None,
    subscriber_id: int | None = None,
    data: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    attachments: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[Row, list[Job]]:
    """One transactional send of ``email_id`` to ``to`` or ``subscriber_id``. Returns the send
    row (id, state, queued_at) and the jobs to enqueue after COMMIT.

    Raises:
      NotFound: the email or the subscriber is not the sender's.
      Conflict: the email is not transactional, is cancelled or has no active variation.
      Gone: the recipient bounced, complained or was erased.
      Unprocessable, PayloadTooLarge, HeaderInjection: the payload (see ``models``).
    """
    request = SendRequest(email_id, to, subscriber_id, data, headers, attachments)
    queued = await queue_sends(conn, sender_id, [request])
    outcome = queued.outcomes[0]
    if outcome.error is not None:
        raise outcome.error
    assert outcome.send is not None
    return outcome.send, queued.jobs


async def send_status(conn: Conn, sender_id: int, send_id: int) -> dict[str, Any]:
    """A send's status, SMTP reply, payload summary and events (the sender's sends only)."""
    send = await repo.get_send(conn, sender_id, send_id)
    if send is None:
        raise NotFound(f"send {send_id} not found")
    return {**send, "events": await repo.send_events(conn, send_id)}


async def recent_sends(
    conn: Conn, sender_id: int, email_id: int, *, before_id: int | None = None, limit: int = 50
) -> list[Row]:
    """A transactional email's latest sends with their data, newest first (NotFound for
    another sender's email)."""
    if email_id not in await repo.get_emails(conn, sender_id, [email_id]):
        raise NotFound(f"email {email_id} not found")
    return await repo.recent_sends(conn, sender_id, email_id, before_id=before_id, limit=limit)
