"""Each provider's documented event shapes, read into one verdict (no database): kinds, hard or
soft by the same taxonomy as DSNs, and what ties an event to its send."""

from __future__ import annotations

import json

import pytest

from services.receiver.esp import events
from tests.receiver.esp import signing


def test_ses_bounce_kinds() -> None:
    hard = events.ses_event("m1", signing.ses_bounce("A@x.example", "<tok@x>"))
    (rcpt,) = hard.recipients
    assert (hard.kind, rcpt.address, rcpt.hard_or_soft, rcpt.reason) == (
        "bounce", "a@x.example", "hard", "user_unknown",
    )  # fmt: skip
    assert hard.message_id == "<tok@x>" and hard.provider_message_id.startswith("0100017-ses-")

    full = signing.ses_bounce("a@x.example", "<t@x>", subtype="MailboxFull")
    full["bounce"].update(bounceType="Transient")
    full["bounce"]["bouncedRecipients"][0].update(
        status="4.2.2", diagnosticCode="smtp; 452 4.2.2 mailbox full"
    )
    (rcpt,) = events.ses_event("m2", full).recipients
    assert (rcpt.hard_or_soft, rcpt.reason) == ("soft", "mailbox_full")

    vague = signing.ses_bounce("a@x.example", "<t@x>", subtype="Suppressed")
    vague["bounce"]["bouncedRecipients"][0].pop("status")
    vague["bounce"]["bouncedRecipients"][0].pop("diagnosticCode")
    (rcpt,) = events.ses_event("m3", vague).recipients
    assert (rcpt.hard_or_soft, rcpt.reason, rcpt.permanent) == ("hard", "user_unknown", True)


def test_ses_complaint_and_delivery() -> None:
    complaint = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "a@x.example"}],
            "timestamp": "2026-12-07T03:00:00.000Z",
            "feedbackId": "0100017-fb",
            "complaintFeedbackType": "abuse",
        },
        "mail": {"messageId": "ses-1", "commonHeaders": {"messageId": "<tok@x>"}},
    }
    event = events.ses_event("m4", complaint)
    assert (event.kind, event.feedback_type, [r.address for r in event.recipients]) == (
        "arf", "abuse", ["a@x.example"],
    )  # fmt: skip
    published = {"eventType": "Delivery", "mail": {"messageId": "ses-2"}, "delivery": {}}
    assert events.ses_event("m5", published).kind == "dsn_success"


def test_sendgrid_events() -> None:
    bounce = signing.sendgrid_event(
        "bounce", "a@x.example", "<t@x>", type="blocked", status="5.7.1",
        reason="550 5.7.1 blocked by policy",
    )  # fmt: skip
    (rcpt,) = events.sendgrid_event(bounce).recipients
    assert rcpt.hard_or_soft == "soft" and rcpt.permanent
    deferred = signing.sendgrid_event("deferred", "a@x.example", "<t@x>", response="421 try later")
    (rcpt,) = events.sendgrid_event(deferred).recipients
    assert rcpt.permanent is False
    spam = events.sendgrid_event(signing.sendgrid_event("spamreport", "a@x.example", "<t@x>"))
    assert spam.kind == "arf"
    assert events.sendgrid_event(signing.sendgrid_event("click", "a@x.example", "<t@x>")).kind == (
        "not_bounce"
    )
    with pytest.raises(events.BadEvent):
        events.sendgrid_events({"not": "a list"})
    with pytest.raises(events.BadEvent):
        events.sendgrid_event({"event": "bounce"})


def test_postmark_events() -> None:
    (rcpt,) = events.postmark_event(signing.postmark_bounce("a@x.example")).recipients
    assert (rcpt.hard_or_soft, rcpt.reason) == ("hard", "user_unknown")
    soft = signing.postmark_bounce("a@x.example", "SoftBounce")
    soft["Details"] = "smtp;452 4.2.2 mailbox over quota"
    (rcpt,) = events.postmark_event(soft).recipients
    assert (rcpt.hard_or_soft, rcpt.reason) == ("soft", "mailbox_full")
    transient = events.postmark_event(signing.postmark_bounce("a@x.example", "Transient"))
    assert transient.kind == "not_bounce"  # a delay notice Postmark still retries
    complaint = events.postmark_event(
        {"RecordType": "SpamComplaint", "ID": 42, "Email": "a@x.example", "MessageID": "pm-1",
         "Metadata": {"tart_token": "tok"}}
    )  # fmt: skip
    assert (complaint.kind, complaint.event_id, complaint.token_header) == (
        "arf", "SpamComplaint:42", "tok",
    )  # fmt: skip


def test_mailgun_events() -> None:
    failed = events.mailgun_event({"event-data": signing.mailgun_failure("a@x.example", "<t@x>")})
    (rcpt,) = failed.recipients
    assert (rcpt.hard_or_soft, rcpt.status, failed.message_id) == ("hard", "5.1.1", "t@x")
    temp = signing.mailgun_failure("a@x.example", "<t@x>", severity="temporary")
    temp["delivery-status"] = {"code": 421, "message": "try again later"}
    (rcpt,) = events.mailgun_event({"event-data": temp}).recipients
    assert rcpt.permanent is False and rcpt.hard_or_soft == "soft"
    complained = events.mailgun_event(
        {"event-data": signing.mailgun_complaint("a@x.example", "<t@x>")}
    )
    assert complained.kind == "arf"


def test_a_stored_event_reads_the_same() -> None:
    envelope = signing.sns_notification(signing.ses_bounce("a@x.example", "<t@x>"))
    stored = events.read_event("ses", json.dumps(envelope).encode())
    assert stored.event_id == envelope["MessageId"] and stored.kind == "bounce"
    with pytest.raises(events.BadEvent):
        events.read_event("ses", b"not json")
    with pytest.raises(events.BadEvent):
        events.read_event("sparkpost", b"{}")
