"""Resend to non-openers: from a sent email, one call queues a follow-up email after a delay to
those who received the first and did not open it by then.

It is a bulk send of the follow-up whose filter is ``received email X and not opened email X``
(shared/filters), scheduled at the end of the delay: the filter is evaluated when the send
starts, so whoever opened in the meantime is left out. "Opened" is the one definition of
send_engagement (db/0090): a human open or click; machine opens (Apple Mail Privacy
Protection, scanners) do not count, so a subscriber whose only "open" was a machine's gets the
follow-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.campaigns import service as campaigns
from shared.campaigns.models import Message
from shared.db import Conn, Row
from shared.errors import Conflict, Unprocessable
from shared.filters import And, Filter, Not, Opened, Received

MAX_DELAY = timedelta(days=90)


def non_openers(email_id: int) -> Filter:
    """Who received ``email_id`` and did not open it (human opens only)."""
    return And((Received(email_id), Not(Opened(email_id))))


async def resend_to_non_openers(
    conn: Conn,
    *,
    sender_id: int,
    email_id: int,
    followup_email_id: int,
    delay: timedelta,
    locales: list[str] | None = None,
    max_count: int | None = None,
) -> tuple[Row, list[Message]]:
    """Queue ``followup_email_id`` to the non-openers of ``email_id`` after ``delay``.

    Returns the follow-up's campaign (scheduled, or dispatching for no delay) and its messages.

    Raises:
      NotFound: either email is not the sender's.
      Unprocessable: the same email, or a delay out of range.
      Conflict: the first email has not gone out yet.
    """
    if followup_email_id == email_id:
        raise Unprocessable(
            "followup_email_id: a different email (an email goes to a subscriber once)"
        )
    if not timedelta(0) <= delay <= MAX_DELAY:
        raise Unprocessable("delay: from 0 to 90 days")
    source = await campaigns.load_email(conn, sender_id, email_id)
    if source["state"] not in ("sending", "paused", "sent"):
        raise Conflict(f"email {email_id} is {source['state']}: it has not been sent")
    return await campaigns.queue_bulk_send(
        conn,
        sender_id=sender_id,
        email_id=followup_email_id,
        locales=locales,
        contains=None,
        filter=non_openers(email_id),
        max_count=max_count,
        scheduled_at=datetime.now(UTC) + delay if delay else None,
        ab=None,
    )
