"""The inbound classifier: raw bytes in, a Classification out. Pure (no database, no network),
so ``receiver classify`` and the benchmarks run exactly what the parser worker runs."""

from __future__ import annotations

import re
from email.message import Message

from services.receiver.classify import dsn, mime, reports, signals
from services.receiver.classify.archive import ArchiveError
from services.receiver.classify.result import Classification, Recipient, Returned

__all__ = ["Classification", "Recipient", "Returned", "classify"]

MAX_ORIGINAL = 64 * 1024
_UNSUBSCRIBE_LOCAL = re.compile(r"^unsubscribe\+([a-z2-7]{32})@", re.I)


def classify(raw: bytes, envelope_to: str | None = None) -> Classification:
    """Classify one message. Never raises for bad input: unreadable mail is ``invalid``."""
    if not raw.strip():
        return Classification("invalid", error="empty message")
    if not _starts_like_mail(raw) and reports.looks_like_file_report(raw):
        return _file_report(raw)
    try:
        msg = mime.parse(raw)
        return _classify_mail(raw, msg, envelope_to)
    except (mime.MimeError, RecursionError) as error:
        return Classification("invalid", error=str(error) or "unreadable MIME")


def _starts_like_mail(raw: bytes) -> bool:
    return bool(re.match(rb"\s*(From |[A-Za-z0-9-]+:)", raw[:200]))


def _file_report(raw: bytes) -> Classification:
    """A bare report file, as the corpora keep them (or an operator passes to classify)."""
    try:
        parsed = reports.parse_payload(raw)
    except ArchiveError as error:
        return Classification("invalid", error=str(error))
    except Exception as error:
        return Classification("invalid", error=f"unreadable report: {error}"[:500])
    if parsed is None:
        return Classification("invalid", error="not a DMARC or TLS report")
    return _report_result(*parsed)


def _report_result(
    kind: str, report: dict[str, object], base: Classification | None = None
) -> Classification:
    result = base or Classification(kind)
    result.type = kind
    (result.aggregate_reports if kind == "dmarc_aggregate" else result.tls_reports).append(report)
    return result


def _classify_mail(raw: bytes, msg: Message, envelope_to: str | None) -> Classification:
    result = Classification("unknown", headers=mime.header_list(msg))
    result.envelope_to = ([envelope_to] if envelope_to else []) + signals.recipients_of(msg)
    body = mime.body_text(msg)
    result.human_text = body[: mime.MAX_TEXT] or None
    _fill_returned(result, msg, body)

    if any(_UNSUBSCRIBE_LOCAL.match(a) for a in result.envelope_to):
        result.type = "unsubscribe"
        return result

    # A bounce or complaint may return an original that had a zip attached: not a report.
    report_type = str(msg.get_param("report-type") or "").lower()
    is_report = msg.get_content_type() == "multipart/report"
    payloads = [] if is_report and report_type != "tlsrpt" else reports.candidate_payloads(msg)
    for payload in payloads:
        try:
            parsed = reports.parse_payload(payload)
        except ArchiveError as error:
            result.type, result.error = "invalid", str(error)
            return result
        except Exception as error:
            result.error = f"unreadable report: {error}"[:500]
            continue
        if parsed is not None:
            _report_result(*parsed, base=result)
    if result.aggregate_reports or result.tls_reports:
        return result
    if result.error:
        result.type = "invalid"
        return result

    feedback = _feedback_report(msg)
    if feedback is not None:
        feedback_type = (feedback.get("feedback-type") or "").strip().lower() or None
        result.feedback_type = feedback_type
        if feedback_type == "auth-failure":
            return _dmarc_failure(raw, result)
        result.type = "arf"
        rcpt = feedback.get("original-rcpt-to") or result.returned.to
        match = dsn.ADDRESS.search(rcpt or "")
        if match:
            result.recipients.append(Recipient(match.group(0)))
        return result

    parsed_dsn = dsn.parse_dsn(msg, body)
    if parsed_dsn is not None and parsed_dsn[0]:
        recipients, failing = parsed_dsn
        result.recipients = [r for r in recipients if r.reason] if failing else recipients
        result.type = "bounce" if failing else "dsn_success"
        return result

    subject = signals.header(msg, "Subject")
    if re.search(r"dmarc", subject + " " + body[:2000], re.I) and re.search(
        r"forensic|failure|fail", subject + " " + body[:2000], re.I
    ):
        failure = _dmarc_failure(raw, result)
        if failure.type == "dmarc_failure":
            return failure

    # A person's auto-reply (headers say so, sender is not a daemon) before bounce words, since
    # "away until" notices often mention delivery; daemons mark bounces auto-replied too.
    if signals.autoreply_headers(msg) and not signals.from_daemon(msg):
        result.type = "autoreply"
        return result
    strong_bounce = signals.looks_like_bounce(msg) and not _is_reply_by_human(msg)
    if strong_bounce or parsed_dsn is not None:
        result.type = "bounce"
        result.recipients = dsn.parse_free_text(msg, body)
        return result
    if signals.is_autoreply(msg, body):
        result.type = "autoreply"
        return result
    recipients = dsn.parse_free_text(msg, body) if _null_sender(msg) else []
    if recipients:
        result.type, result.recipients = "bounce", recipients
        return result
    result.type = "not_bounce" if _is_reply_by_human(msg) or msg.get("From") else "unknown"
    return result


def _null_sender(msg: Message) -> bool:
    return signals.header(msg, "Return-Path").strip() in ("<>", "")


def _is_reply_by_human(msg: Message) -> bool:
    """A person's answer (mail client, In-Reply-To) that happens to mention a failure."""
    return bool(msg.get("X-Mailer") or msg.get("User-Agent")) and bool(
        msg.get("In-Reply-To") or msg.get("References")
    )


def _feedback_report(msg: Message) -> dict[str, str] | None:
    """The fields of an RFC 5965 message/feedback-report part, lower-cased names."""
    for part in mime.walk(msg):
        if part.get_content_type() == "message/feedback-report":
            fields: dict[str, str] = {}
            for block in dsn.fields_from_text(mime.structured_text(part)):
                for name, value in block.items():
                    fields.setdefault(name, mime.decode_header(value))
            return fields
    return None


def _dmarc_failure(raw: bytes, result: Classification) -> Classification:
    report = reports.parse_failure(raw)
    if report is None:
        if result.feedback_type == "auth-failure":
            result.type = "dmarc_failure"
            result.failure_reports.append({"feedback_type": "auth-failure", "parsed": {}})
        return result
    result.type = "dmarc_failure"
    result.feedback_type = report.get("feedback_type") or result.feedback_type
    result.failure_reports.append(report)
    return result


_TOKEN_HEADER = re.compile(r"(?im)^X-Tart-Token:\s*([A-Za-z2-7]{32})\b")
_MESSAGE_ID = re.compile(r"(?im)^Message-ID:\s*<([^>\s]+)>")
_LIST_UNSUB = re.compile(r"(?im)^List-Unsubscribe:\s*(.+(?:\n[ \t].+)*)")
_TO = re.compile(r"(?im)^To:\s*(.+)")


def _fill_returned(result: Classification, msg: Message, body: str) -> None:
    """What identifies our original: headers of the returned message, else the same headers
    quoted anywhere below the top-level header block."""
    original = dsn.returned_original(msg)
    text = ""
    if original is not None:
        try:
            text = original.as_string()[:MAX_ORIGINAL]
        except Exception:
            text = "\n".join(f"{k}: {v}" for k, v in original.items())
    if not text:
        inline = re.search(r"(?im)^(return-path|received|message-id|x-tart-token):", body)
        text = body[inline.start() :][:MAX_ORIGINAL] if inline else ""
    result.original = text or None
    returned = result.returned
    for pattern, attr in (
        (_TOKEN_HEADER, "token_header"),
        (_MESSAGE_ID, "message_id"),
        (_TO, "to"),
    ):
        match = pattern.search(text)
        if match:
            setattr(returned, attr, match.group(1).strip())
    match = _LIST_UNSUB.search(text)
    if match:
        returned.list_unsubscribe = re.sub(r"\s+", " ", match.group(1)).strip()
