"""Resend to non-openers: from a sent email, one call queues a follow-up email after a delay to
those who received the first and did not open it by then.

The follow-up is either another email of the sender, or a copy of the sent email that is made
here: with one of its variations and/or a new subject (``emails.followup_of`` names the original,
db/0178). Either way it is a bulk send of the follow-up whose filter is ``received email X and
not opened email X`` (shared/filters), scheduled at the end of the delay: the filter is evaluated
when the send starts, so whoever opened in the meantime is left out. "Opened" is the one
definition of send_engagement (db/0090): a human open or click; machine opens (Apple Mail Privacy
Protection, scanners) do not count, so a subscriber whose only "open" was a machine's gets the
follow-up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.campaigns import service as campaigns
from shared.campaigns.models import Message
from shared.db import Conn, Row
from shared.emails import repository as emails
from shared.errors import Conflict, NotFound, Unprocessable
from shared.filters import And, Filter, Not, Opened, Received
from shared.rendering import validate_templates

MAX_DELAY = timedelta(days=90)
MAX_SUBJECT = 998  # one header line (RFC 5322), as for every variation's subject
_NOT_ONE_LINE = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True)
class Followup:
    """What to send to the non-openers: an existing email (``email_id``), or a copy of the sent
    email with one of its variations (``variation_id``) and/or a new ``subject``."""

    email_id: int | None = None
    subject: str | None = None
    variation_id: int | None = None

    @property
    def is_copy(self) -> bool:
        return self.subject is not None or self.variation_id is not None


def non_openers(email_id: int) -> Filter:
    """Who received ``email_id`` and did not open it (human opens only)."""
    return And((Received(email_id), Not(Opened(email_id))))


def check_followup(email_id: int, followup: Followup) -> None:
    """The request's own consistency, before anything is read.

    Raises:
      Unprocessable: neither or both kinds of follow-up, the same email, a bad subject.
    """
    if followup.email_id is None and not followup.is_copy:
        raise Unprocessable(
            "followup_email_id: give an email to send, or a subject and/or variation_id for a "
            "copy of this email"
        )
    if followup.email_id is not None and followup.is_copy:
        raise Unprocessable(
            "followup_email_id: give either an email to send or a subject/variation_id, not both"
        )
    if followup.email_id == email_id:
        raise Unprocessable(
            "followup_email_id: a different email (an email goes to a subscriber once)"
        )
    subject = followup.subject
    if subject is not None and (
        not subject.strip() or len(subject) > MAX_SUBJECT or _NOT_ONE_LINE.search(subject)
    ):
        raise Unprocessable(f"subject: one line of 1 to {MAX_SUBJECT} characters")


async def resend_to_non_openers(
    conn: Conn,
    *,
    sender_id: int,
    email_id: int,
    followup: Followup,
    delay: timedelta,
    locales: list[str] | None = None,
    max_count: int | None = None,
) -> tuple[Row, list[Message]]:
    """Queue the follow-up to the non-openers of ``email_id`` after ``delay``.

    Returns the follow-up's campaign (scheduled, or dispatching for no delay; its ``email_id``
    is the copy when one was made) and its messages.

    Raises:
      NotFound: the sent email is not the sender's.
      Unprocessable: see check_followup; a follow-up email or a variation that is not the
        sender's (or not of this email); a delay out of range; a subject that is no template.
      Conflict: the first email has not gone out yet.
    """
    check_followup(email_id, followup)
    if not timedelta(0) <= delay <= MAX_DELAY:
        raise Unprocessable("delay: from 0 to 90 days")
    source = await campaigns.load_email(conn, sender_id, email_id)
    if followup.email_id is not None:
        try:
            await campaigns.load_email(conn, sender_id, followup.email_id)
        except NotFound:  # the same answer for another sender's email and for none
            raise Unprocessable(
                f"followup_email_id: no email {followup.email_id} of this sender"
            ) from None
    if followup.variation_id is not None and (
        await emails.get_variation(conn, sender_id, email_id, followup.variation_id) is None
    ):
        raise Unprocessable(f"variation_id: not a variation of email {email_id}")
    if source["state"] not in ("sending", "paused", "sent"):
        raise Conflict(f"email {email_id} is {source['state']}: it has not been sent")
    followup_email_id = followup.email_id
    if followup_email_id is None:
        followup_email_id = await _copy(conn, sender_id, email_id, followup)
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


async def _copy(conn: Conn, sender_id: int, email_id: int, followup: Followup) -> int:
    """The follow-up copy of ``email_id``; its variations are checked like any saved one (the
    new subject is a template too)."""
    copy = await emails.create_followup_copy(
        conn, sender_id, email_id, subject=followup.subject, variation_id=followup.variation_id
    )
    if copy is None:  # load_email found it in this transaction
        raise NotFound(f"email {email_id} not found")
    for variation in await emails.list_variations(conn, sender_id, [copy["id"]]):
        validate_templates(variation["subject"], variation["plain_body"], variation["html_body"])
    return int(copy["id"])
