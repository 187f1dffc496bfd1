"""Each provider's callback format, read into one shape: what happened to which recipients.

Pure functions, no I/O: the intake (``app``) splits a callback into events and keeps the ones
that matter; inbound.parse reads a stored event again with ``read_event``. Bounces are judged
by the same taxonomy as DSNs (``shared.responses.reasons.explain``) from the status and the
remote server's words the provider passes on; the provider's own verdict is only a hint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.responses.reasons import HARD_REASONS, explain, find_status

# The kinds a stored event is filed as (inbound_messages.kind).
BOUNCE, COMPLAINT, DELIVERED, OTHER = "bounce", "arf", "dsn_success", "not_bounce"


@dataclass(frozen=True)
class EspRecipient:
    """One recipient an event is about, with the verdict on a failure."""

    address: str
    hard_or_soft: str | None = None
    permanent: bool | None = None
    status: str | None = None
    reason: str | None = None
    diagnostic: str | None = None


@dataclass(frozen=True)
class EspEvent:
    """One provider event: its kind, recipients and what ties it to a send."""

    provider: str
    event_id: str
    kind: str
    recipients: list[EspRecipient] = field(default_factory=list)
    feedback_type: str | None = None
    message_id: str | None = None  # the Message-ID header of the original (it holds our token)
    token_header: str | None = None  # X-Tart-Token of the original, when the provider passes it
    provider_message_id: str | None = None  # the provider's own id of the message


class BadEvent(ValueError):
    """A callback that does not have the provider's documented shape."""


def _failure(
    address: str,
    status: str | None,
    diagnostic: str | None,
    *,
    final: bool,
    hint: str | None = None,
) -> EspRecipient:
    """A failed recipient judged like a DSN; ``hint`` is the reason the provider's own verdict
    names, used only when the status and the words say nothing specific."""
    verdict = explain(status, diagnostic, "failed" if final else "delayed")
    reason, hard = verdict.reason, verdict.hard
    if hint and reason == "unknown":
        reason = hint
        hard = hint in HARD_REASONS and final
    return EspRecipient(
        address=address.strip().lower(),
        hard_or_soft="hard" if hard else "soft",
        permanent=verdict.permanent if status or diagnostic else final,
        status=status or None,
        reason=reason,
        diagnostic=(diagnostic or None) and diagnostic[:2000],
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# Amazon SES (notifications and event publishing, both through SNS) ------------------------------

_SES_HINTS = {"NoEmail": "user_unknown", "Suppressed": "user_unknown",
              "OnAccountSuppressionList": "user_unknown", "MailboxFull": "mailbox_full",
              "MessageTooLarge": "too_large", "ContentRejected": "content",
              "AttachmentRejected": "content"}  # fmt: skip


def ses_event(sns_message_id: str, message: dict[str, Any]) -> EspEvent:
    """An SES notification (``notificationType``) or published event (``eventType``), the JSON
    inside an SNS Notification's Message."""
    if not isinstance(message, dict):
        raise BadEvent("the SNS Message is not an SES notification")
    kind_name = message.get("notificationType") or message.get("eventType")
    mail = _dict(message.get("mail"))
    headers = {
        str(h.get("name", "")).lower(): str(h.get("value", ""))
        for h in mail.get("headers") or []
        if isinstance(h, dict)
    }
    common = _dict(mail.get("commonHeaders"))
    base: dict[str, Any] = {
        "provider": "ses",
        "event_id": sns_message_id,
        "message_id": _str(common.get("messageId")) or headers.get("message-id"),
        "token_header": headers.get("x-tart-token"),
        "provider_message_id": _str(mail.get("messageId")),
    }
    if kind_name == "Bounce":
        bounce = message.get("bounce")
        if not isinstance(bounce, dict):
            raise BadEvent("an SES Bounce without its bounce object")
        final = bounce.get("bounceType") != "Undetermined"
        hint = _SES_HINTS.get(str(bounce.get("bounceSubType")))
        if bounce.get("bounceType") == "Transient" and hint in HARD_REASONS:
            hint = None
        recipients = [
            _failure(
                str(r["emailAddress"]),
                _str(r.get("status")),
                _str(r.get("diagnosticCode")),
                final=final,
                hint=hint,
            )
            for r in bounce.get("bouncedRecipients") or []
            if isinstance(r, dict) and _str(r.get("emailAddress"))
        ]
        return EspEvent(kind=BOUNCE, recipients=recipients, **base)
    if kind_name == "Complaint":
        complaint = message.get("complaint")
        if not isinstance(complaint, dict):
            raise BadEvent("an SES Complaint without its complaint object")
        recipients = [
            EspRecipient(str(r["emailAddress"]).strip().lower())
            for r in complaint.get("complainedRecipients") or []
            if isinstance(r, dict) and _str(r.get("emailAddress"))
        ]
        return EspEvent(
            kind=COMPLAINT,
            recipients=recipients,
            feedback_type=_str(complaint.get("complaintFeedbackType")) or "abuse",
            **base,
        )
    if kind_name == "Delivery":
        return EspEvent(kind=DELIVERED, **base)
    return EspEvent(kind=OTHER, **base)


# SendGrid event webhook (a JSON array of events) ---------------------------------------------


def sendgrid_events(batch: Any) -> list[EspEvent]:
    """The events of one SendGrid event webhook POST."""
    if not isinstance(batch, list):
        raise BadEvent("a SendGrid event webhook body is a JSON array")
    return [sendgrid_event(item) for item in batch]


def sendgrid_event(item: Any) -> EspEvent:
    if not isinstance(item, dict) or not _str(item.get("email")) or not _str(item.get("event")):
        raise BadEvent("a SendGrid event needs email and event")
    address, name = str(item["email"]), str(item["event"])
    base: dict[str, Any] = {
        "provider": "sendgrid",
        "event_id": _str(item.get("sg_event_id")) or "",
        "message_id": _str(item.get("smtp-id")),
        "token_header": _str(item.get("tart_token")),  # a custom arg, if the sender sets one
        "provider_message_id": _str(item.get("sg_message_id")),
    }
    if name in ("bounce", "deferred"):
        # type "blocked" is SendGrid's word for a soft refusal; "bounce" leaves it to the status.
        hint = "blocked" if item.get("type") == "blocked" else None
        diagnostic = _str(item.get("reason")) or _str(item.get("response"))
        rcpt = _failure(
            address, _str(item.get("status")), diagnostic, final=name == "bounce", hint=hint
        )
        return EspEvent(kind=BOUNCE, recipients=[rcpt], **base)
    if name == "spamreport":
        return EspEvent(
            kind=COMPLAINT, recipients=[EspRecipient(address.lower())], feedback_type="abuse",
            **base,
        )  # fmt: skip
    if name == "delivered":
        return EspEvent(kind=DELIVERED, recipients=[EspRecipient(address.lower())], **base)
    return EspEvent(kind=OTHER, recipients=[EspRecipient(address.lower())], **base)


# Postmark (one JSON object per POST, RecordType says what it is) -----------------------------

_POSTMARK_FINAL = {"HardBounce": "user_unknown", "BadEmailAddress": "bad_address",
                   "SpamNotification": "spam", "Blocked": "blocked",
                   "ManuallyDeactivated": "mailbox_disabled", "DMARCPolicy": "policy",
                   "ContentRelated": "content", "AddressChange": "moved",
                   "SoftBounce": "mailbox_error", "Unknown": None}  # fmt: skip
_POSTMARK_DELAYED = {"Transient", "DnsError", "AutoResponder", "ChallengeVerification"}


def postmark_event(item: Any) -> EspEvent:
    if not isinstance(item, dict) or not _str(item.get("RecordType")):
        raise BadEvent("a Postmark webhook body is an object with a RecordType")
    record = str(item["RecordType"])
    address = _str(item.get("Email")) or _str(item.get("Recipient")) or ""
    base: dict[str, Any] = {
        "provider": "postmark",
        "event_id": f"{record}:{item.get('ID') or item.get('MessageID') or ''}",
        "message_id": None,
        "token_header": _metadata_token(item.get("Metadata")),
        "provider_message_id": _str(item.get("MessageID")),
    }
    if record == "Bounce":
        if not address:
            raise BadEvent("a Postmark bounce needs Email")
        bounce_type = str(item.get("Type") or "Unknown")
        if bounce_type in _POSTMARK_DELAYED:
            return EspEvent(kind=OTHER, recipients=[EspRecipient(address.lower())], **base)
        rcpt = _failure(
            address,
            None,
            _str(item.get("Details")) or _str(item.get("Description")),
            final=True,
            hint=_POSTMARK_FINAL.get(bounce_type),
        )
        return EspEvent(kind=BOUNCE, recipients=[rcpt], **base)
    if record == "SpamComplaint":
        if not address:
            raise BadEvent("a Postmark spam complaint needs Email")
        return EspEvent(
            kind=COMPLAINT, recipients=[EspRecipient(address.lower())], feedback_type="abuse",
            **base,
        )  # fmt: skip
    if record == "Delivery":
        return EspEvent(kind=DELIVERED, recipients=[EspRecipient(address.lower())], **base)
    return EspEvent(kind=OTHER, **base)


def _metadata_token(metadata: Any) -> str | None:
    return _str(metadata.get("tart_token")) if isinstance(metadata, dict) else None


# Mailgun (one JSON object per POST: signature + event-data) ----------------------------------


def mailgun_event(body: Any) -> EspEvent:
    data = body.get("event-data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not _str(data.get("event")):
        raise BadEvent("a Mailgun webhook body carries event-data with an event")
    name = str(data["event"])
    address = _str(data.get("recipient")) or ""
    headers = _dict(_dict(data.get("message")).get("headers"))
    variables = _dict(data.get("user-variables"))
    base: dict[str, Any] = {
        "provider": "mailgun",
        "event_id": _str(data.get("id")) or "",
        "message_id": _str(headers.get("message-id")),
        "token_header": _str(variables.get("tart_token")),
        "provider_message_id": _str(headers.get("message-id")),
    }
    if name == "failed":
        if not address:
            raise BadEvent("a Mailgun failed event needs recipient")
        status = _dict(data.get("delivery-status"))
        code = status.get("code")
        words = " ".join(
            w for w in (_str(status.get("message")), _str(status.get("description"))) if w
        )
        # The enhanced code when Mailgun gives it, else the one in the server's words, else the
        # reply code's class.
        enhanced = _str(status.get("enhanced-code")) or find_status(words)
        if enhanced is None and isinstance(code, int) and 400 <= code < 600:
            enhanced = f"{code // 100}.0.0"
        final = data.get("severity") != "temporary"
        hint = "user_unknown" if data.get("reason") == "suppress-bounce" else None
        rcpt = _failure(address, enhanced, words or None, final=final, hint=hint)
        return EspEvent(kind=BOUNCE, recipients=[rcpt], **base)
    if name == "complained":
        if not address:
            raise BadEvent("a Mailgun complained event needs recipient")
        return EspEvent(
            kind=COMPLAINT, recipients=[EspRecipient(address.lower())], feedback_type="abuse",
            **base,
        )  # fmt: skip
    if name == "delivered":
        return EspEvent(kind=DELIVERED, recipients=[EspRecipient(address.lower())], **base)
    return EspEvent(kind=OTHER, **base)


# One stored event read again -----------------------------------------------------------------


def read_event(provider: str, raw: bytes) -> EspEvent:
    """The event of one stored row (what the intake kept: the SNS envelope for SES, the event's
    own JSON for the others)."""
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise BadEvent(f"stored {provider} event is not JSON: {error}") from error
    if provider == "ses":
        if not isinstance(document, dict) or not isinstance(document.get("Message"), str):
            raise BadEvent("a stored SES event is an SNS Notification")
        try:
            message = json.loads(document["Message"])
        except ValueError as error:
            raise BadEvent("the SNS Message is not JSON") from error
        return ses_event(str(document.get("MessageId", "")), message)
    if provider == "sendgrid":
        return sendgrid_event(document)
    if provider == "postmark":
        return postmark_event(document)
    if provider == "mailgun":
        return mailgun_event(document)
    raise BadEvent(f"unknown provider {provider!r}")
