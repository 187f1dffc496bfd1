"""What the API and the admin call to send email. Each operation runs on the caller's open
connection inside the caller's transaction, filters by ``sender_id`` (tenant isolation) and
returns the dramatiq messages the caller enqueues after COMMIT (``Transaction.enqueue``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.campaigns import repository as repo
from shared.campaigns.models import (
    AbSettings,
    Message,
    batch_message,
    batch_messages,
    dispatch_message,
    test_message,
)
from shared.config import get_settings
from shared.db import Conn, Row
from shared.errors import Conflict, Gone, NotFound, Unprocessable
from shared.filters import Filter, to_json
from shared.segments import service as segments
from shared.transactional.models import check_data

ADDRESS_MAX = 254


async def load_email(conn: Conn, sender_id: int, email_id: int, *, lock: bool = False) -> Row:
    """The sender's email, or NotFound: the one lookup of the email a request makes (pass the
    row on). ``lock`` holds it for a change of state until the transaction ends."""
    email = await repo.get_email(conn, sender_id, email_id, lock=lock)
    if email is None:
        raise NotFound(f"email {email_id} not found")
    return email


async def _require_variations(conn: Conn, email_id: int, at_least: int = 1) -> list[Row]:
    variations = await repo.active_variations(conn, email_id)
    if len(variations) < at_least:  # the email's state, not the request, is what is wrong
        raise Conflict(f"email {email_id}: needs at least {at_least} active variation(s) to send")
    return variations


async def count_audience(
    conn: Conn,
    email: Row,
    *,
    locales: list[str] | None,
    contains: dict[str, Any] | None,
    filter: Filter | None,
    segment_id: int | None = None,
) -> dict[str, int]:
    """Active subscribers per locale who match (and are in segment ``segment_id``) and do not
    have ``email`` yet (a row of ``load_email``); ``locales`` None means the email's own."""
    filter = await segments.resolve(conn, email["sender_id"], filter, segment_id=segment_id)
    rows = await repo.count_audience(
        conn,
        sender_id=email["sender_id"],
        email_id=email["id"],
        locales=list(locales if locales is not None else email["locales"] or []),
        contains=contains or {},
        filter=filter,
    )
    return {row["locale"]: row["n"] for row in rows}


async def queue_bulk_send(
    conn: Conn,
    *,
    sender_id: int,
    email_id: int,
    locales: list[str] | None,
    contains: dict[str, Any] | None,
    filter: Filter | None,
    max_count: int | None,
    scheduled_at: datetime | None,
    ab: AbSettings | None,
    segment_id: int | None = None,
) -> tuple[Row, list[Message]]:
    """Start (or schedule) a bulk send. Returns the campaign (its id is the job id;
    planned_count is the audience size, capped by max_count) and the dispatch message.
    ``locales`` None (or empty) means the email's own locales. A saved segment's filter is
    expanded now: the campaign keeps the audience it started with."""
    email = await load_email(conn, sender_id, email_id, lock=True)
    if email["transactional"]:
        raise Conflict(f"email {email_id} is transactional: send it through /v1/transactional")
    if email["state"] not in ("draft", "sent"):
        raise Conflict(f"email {email_id} is {email['state']}; it cannot be queued now")
    if max_count is not None and max_count < 1:
        raise Unprocessable("max_count: must be at least 1")
    await _require_variations(conn, email_id, 2 if ab is not None else 1)
    locales = list(locales or email["locales"] or [])
    filter = await segments.resolve(conn, sender_id, filter, segment_id=segment_id)
    counts = await count_audience(conn, email, locales=locales, contains=contains, filter=filter)
    planned = sum(counts.values())
    if max_count is not None:
        planned = min(planned, max_count)
    scheduled = scheduled_at is not None and scheduled_at > datetime.now(UTC)
    state = "scheduled" if scheduled else "dispatching"
    campaign = await repo.create_campaign(
        conn,
        email_id=email_id,
        sender_id=sender_id,
        state=state,
        locales=locales,
        contains=contains or {},
        filter=None if filter is None else to_json(filter),
        max_count=max_count,
        scheduled_at=scheduled_at,
        ab_test_share=None if ab is None else ab.test_share,
        ab_wait_seconds=None if ab is None else ab.wait.total_seconds(),
        ab_metric=None if ab is None else ab.metric,
        ab_min_sends=None if ab is None else ab.min_sends,
        planned_count=planned,
    )
    await repo.set_email_state(conn, sender_id, email_id, "scheduled" if scheduled else "sending")
    return campaign, ([] if scheduled else [dispatch_message(campaign["id"])])


async def send_to_subscriber(
    conn: Conn,
    *,
    sender_id: int,
    email_id: int,
    subscriber_id: int | None = None,
    address: str | None = None,
) -> tuple[Row, list[Message]]:
    """A transactional send of the email to one subscriber (2013's SendToSubscriber)."""
    if (subscriber_id is None) == (address is None):
        raise Unprocessable("give exactly one of subscriber_id or address")
    email = await load_email(conn, sender_id, email_id)
    if email["transactional"]:  # repeatable, on the priority lane
        from shared.transactional.service import queue_send

        subscriber = await repo.find_subscriber(conn, sender_id, subscriber_id, address)
        if subscriber is None:
            raise NotFound("subscriber not found")
        return await queue_send(
            conn, sender_id=sender_id, email_id=email_id, subscriber_id=subscriber["id"]
        )
    if email["state"] == "cancelled":
        raise Conflict(f"email {email_id} is cancelled")
    await _require_variations(conn, email_id)
    subscriber = await repo.find_subscriber(conn, sender_id, subscriber_id, address)
    if subscriber is None:
        raise NotFound("subscriber not found")
    if subscriber["state"] != "active":
        raise Gone(f"subscriber is {subscriber['state']}")
    send = await repo.insert_single_send(conn, sender_id, email_id, subscriber["id"])
    if send is None:
        raise Conflict(f"subscriber {subscriber['id']} already has email {email_id}")
    return send, [batch_message(email_id, send["id"], send["id"])]


async def test_send(
    conn: Conn,
    *,
    sender_id: int,
    email_id: int,
    variation_id: int,
    address: str,
    properties: dict[str, Any] | None,
    data: dict[str, Any] | None = None,
) -> list[Message]:
    """Send one variation of the sender's email to any address, with made-up properties (and,
    for a transactional email, made-up ``data``, size-capped as a real send's). No send row is
    kept."""
    variation = await repo.get_variation(conn, sender_id, variation_id, email_id=email_id)
    if variation is None:
        raise NotFound(f"variation {variation_id} not found")
    address = address.strip()
    if (
        not address
        or len(address) > ADDRESS_MAX
        or address.count("@") != 1
        or any(c in address for c in '\r\n <>,;"')
    ):
        raise Unprocessable("address: not a valid email address")
    if data:
        data = check_data(data, get_settings().transactional_data_max_bytes)
        return [test_message(sender_id, variation_id, address, dict(properties or {}), data)]
    return [test_message(sender_id, variation_id, address, dict(properties or {}))]


async def pause(conn: Conn, *, sender_id: int, email_id: int) -> None:
    """Stop claiming new rows; rows already being sent finish."""
    email = await load_email(conn, sender_id, email_id, lock=True)
    campaign = await repo.open_campaign(conn, sender_id, email_id)
    if email["state"] != "sending" or campaign is None or campaign["state"] == "paused":
        raise Conflict(f"email {email_id} is {email['state']}; only a sending email pauses")
    await repo.set_campaign_state(conn, campaign["id"], "paused")
    await repo.set_email_state(conn, sender_id, email_id, "paused")


async def resume(conn: Conn, *, sender_id: int, email_id: int) -> list[Message]:
    """Continue a paused email: dispatch resumes from its checkpoint (a no-op when every row
    exists) and the rows still queued are queued again."""
    email = await load_email(conn, sender_id, email_id, lock=True)
    campaign = await repo.open_campaign(conn, sender_id, email_id)
    if email["state"] != "paused" or campaign is None:
        raise Conflict(f"email {email_id} is {email['state']}; only a paused email resumes")
    await repo.set_campaign_state(conn, campaign["id"], "dispatching")
    await repo.set_email_state(conn, sender_id, email_id, "sending")
    ranges = await repo.ready_ranges(conn, campaign["id"], get_settings().send_batch_size)
    return [dispatch_message(campaign["id"]), *batch_messages(email_id, ranges)]


async def cancel(conn: Conn, *, sender_id: int, email_id: int) -> int:
    """Cancel the email and every send of it still queued. Returns how many were cancelled."""
    email = await load_email(conn, sender_id, email_id, lock=True)
    if email["state"] not in ("draft", "scheduled", "sending", "paused"):
        raise Conflict(f"email {email_id} is {email['state']}; it cannot be cancelled")
    campaign = await repo.open_campaign(conn, sender_id, email_id)
    if campaign is not None:
        await repo.set_campaign_state(conn, campaign["id"], "cancelled")
    await repo.set_email_state(conn, sender_id, email_id, "cancelled")
    return await repo.cancel_queued(conn, sender_id, email_id)


async def retry_failed(conn: Conn, *, sender_id: int, email_id: int) -> tuple[int, list[Message]]:
    """Queue the email's failed sends again. Returns how many and the batch messages."""
    email = await load_email(conn, sender_id, email_id, lock=True)
    if email["state"] == "cancelled":
        raise Conflict(f"email {email_id} is cancelled")
    count = await repo.requeue_failed(conn, sender_id, email_id)
    if count == 0:
        return 0, []
    campaign = await repo.last_campaign(conn, sender_id, email_id)
    if campaign is not None and campaign["state"] == "finished":
        await repo.set_campaign_state(conn, campaign["id"], "sending")
        if email["state"] == "sent":
            await repo.set_email_state(conn, sender_id, email_id, "sending")
    ranges = await repo.email_ready_ranges(
        conn, sender_id, email_id, get_settings().send_batch_size
    )
    return count, batch_messages(email_id, ranges)


async def progress(conn: Conn, *, sender_id: int, email_id: int) -> dict[str, Any]:
    """The email's state, its sends' counts by state, what remains, and the recent rate (sends
    per second, last 10 s), read in one statement."""
    row = await repo.progress(conn, sender_id, email_id)
    if row is None:
        raise NotFound(f"email {email_id} not found")
    return {
        "email_id": email_id,
        "state": row["state"],
        "queued": row["queued"],
        "held": row["held"],
        "sending": row["sending"],
        "sent": row["sent"],
        "failed": row["failed"],
        "cancelled": row["cancelled"],
        "remaining": row["queued"] + row["sending"],
        "rate_per_second": round(row["sent_last_10s"] / 10.0, 1),
        "paused_reason": row["paused_reason"],  # set when the bounce/complaint guard paused it
    }
