"""Delivery status notifications: RFC 3464 reports, and the free-text bounces of MTAs that do
not send one (qmail, old Exim, Exchange, Yahoo, ...), the latter with flufl.bounce's detectors
plus a generic reading of the human-readable part."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from email.message import Message

from flufl.bounce import all_failures

from services.receiver.classify import mime
from services.receiver.classify.result import Recipient
from shared.responses.reasons import Verdict, explain, find_status, normalise_status

logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
# The lookbehind anchors a match at the start of a run of address characters; without it a long
# run with no "@" is rescanned from every position (quadratic: 76 s on one 200 kB line).
ADDRESS = re.compile(
    r"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_FIELD_BLOCK = re.compile(
    r"(?im)^(final-recipient|original-recipient|action|status|diagnostic-code)\s*:"
)


def fields_from_text(text: str) -> list[dict[str, str]]:
    """Split a delivery-status body into field blocks (blank-line separated), names lower-cased,
    continuation lines joined."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, ""
            continue
        if line[:1] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and re.fullmatch(r"[A-Za-z0-9-]+", name.strip()):
            last = name.strip().lower()
            current.setdefault(last, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _dsn_blocks(part: Message) -> list[dict[str, str]]:
    return fields_from_text(mime.structured_text(part))


def _address(value: str | None) -> str | None:
    if not value:
        return None
    _, _, rest = value.rpartition(";")
    match = ADDRESS.search(rest or value)
    return match.group(0).strip(".") if match else None


def parse_dsn(msg: Message, body: str = "") -> tuple[list[Recipient], bool] | None:
    """Recipients of an RFC 3464 report (or None when there is no delivery-status part).
    The flag says whether any recipient failed or was delayed. ``body`` is the report's
    human-readable text: what it says about a recipient explains a failure whose fields do not
    (many MTAs send Status: 5.0.0 and no Diagnostic-Code)."""
    blocks: list[dict[str, str]] = []
    found = False
    for part in mime.walk(msg):
        if part.get_content_type() in DSN_TYPES:
            found = True
            blocks.extend(_dsn_blocks(part))
    if not found:
        # Some MTAs put the fields in a text/plain part of a multipart/report.
        if msg.get_content_type() != "multipart/report":
            return None
        for part in mime.walk(msg):
            if part.get_content_type() == "text/plain":
                text = mime.text_of(part)
                if re.search(r"(?im)^final-recipient\s*:", text):
                    found = True
                    blocks.extend(fields_from_text(text))
        if not found:
            return None
    recipients: list[Recipient] = []
    failing = False
    seen: set[str] = set()
    for block in blocks:
        # Final-Recipient is the mailbox that failed; Original-Recipient the address we sent to.
        original = _address(block.get("original-recipient"))
        addr = _address(block.get("final-recipient")) or original
        if not addr or addr.lower() in seen:
            continue
        seen.add(addr.lower())
        alias = original if original and original.lower() != addr.lower() else None
        action = (block.get("action") or "").strip().lower() or None
        diagnostic = block.get("diagnostic-code") or None
        if diagnostic:
            diagnostic = re.sub(r"^\s*(smtp|x-[a-z-]+|unix)\s*;\s*", "", diagnostic, flags=re.I)
        status = normalise_status(block.get("status")) or find_status(diagnostic or "")
        # "Status: 5.0.0 (recipient reached disk quota)": the comment is the only explanation.
        comment = re.sub(r"^\s*[\d.]+\s*", "", block.get("status") or "").strip(" ()")
        if action in ("delivered", "relayed", "expanded"):
            recipients.append(Recipient(addr, alias, status, action, diagnostic))
            continue
        if action is None and status and status.startswith("2"):
            recipients.append(Recipient(addr, alias, status, "delivered", diagnostic))
            continue
        failing = True
        words = " ".join(w for w in (diagnostic, comment) if w) or None
        context = " ".join(_context(a, body) for a in {addr, original} if a) if body else None
        verdict = explain(status, words, action, context=context)
        recipients.append(
            Recipient(addr, alias, status, action or "failed", diagnostic, *_facts(verdict))
        )
    return recipients, failing


def _facts(verdict: Verdict) -> tuple[str, str, bool]:
    return verdict.reason, verdict.hard_or_soft, verdict.permanent


def parse_free_text(msg: Message, body: str) -> list[Recipient]:
    """Recipients of a bounce without a usable delivery-status part."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:
        temporary, permanent = frozenset(), frozenset()
    failed = [
        (raw.decode("utf-8", "replace").strip("<>. "), temp)
        for group, temp in ((permanent, False), (temporary, True))
        for raw in sorted(group)
    ]
    names = [addr for addr, _ in failed]
    recipients: list[Recipient] = []
    seen: set[str] = set()
    for addr, temp in failed:
        if "@" not in addr or addr.lower() in seen:
            continue
        seen.add(addr.lower())
        recipients.append(_from_context(addr, body, temp, names))
    if not recipients:
        near = _addresses_near_errors(msg, body)
        for addr in near:
            if addr.lower() not in seen:
                seen.add(addr.lower())
                recipients.append(_from_context(addr, body, None, near))
    return recipients


# Where a bounce's own words end and the returned message (or its headers) begins.
_RETURNED = re.compile(
    r"(?im)^[ \t>]*(-{2,}.*(original|below this line|copy of|returned|header|rfc ?822|message"
    r" follows)|(received|return-path|message-id|dkim-signature|x-[\w-]+):|"
    r"original message follows|your message reads|here is a copy|this is a copy)"
)


def _context(addr: str, body: str) -> str:
    """The words about one address: its line and the few after it, up to where the returned
    message starts (whose subject or headers must not explain the failure)."""
    index = body.lower().find(addr.lower())
    if index < 0:
        end = _RETURNED.search(body)
        return body[: min(end.start() if end else 2000, 2000)]
    start = body.rfind("\n", 0, index) + 1
    text = body[start : start + 600]
    end = _RETURNED.search(text, pos=body.find("\n", index) - start + 1 if "\n" in text else 0)
    return text[: end.start()] if end and end.start() > 0 else text


_LINE_START = re.compile(r"^[ \t]*<?", re.M)


def _own_block(context: str, addr: str, others: Iterable[str]) -> str:
    """The part of ``context`` before a later line that starts with another failed address:
    qmail and Yahoo give each address a block of its own, and the next block's words are not
    about this address."""
    names = {o.lower() for o in others} - {addr.lower(), ""}
    first_line_end = context.find("\n")
    if not names or first_line_end < 0:
        return context
    lowered = context.lower()
    for match in _LINE_START.finditer(lowered, first_line_end + 1):
        if any(lowered.startswith(name, match.end()) for name in names):
            return context[: match.start()]
    return context


def _from_context(
    addr: str, body: str, temporary: bool | None, others: Iterable[str] = ()
) -> Recipient:
    whole = _context(addr, body)
    context = _own_block(whole, addr, others)
    if (
        context != whole
        and find_status(context) is None
        and explain(None, context, "failed").reason == "unknown"
    ):
        context = whole  # a list of addresses followed by one reason for them all
    status = find_status(context)
    if status is None:
        basic = re.search(r"\b([45])\d\d\b", context)
        status = normalise_status(basic.group(0)) if basic else None
    if temporary and (status is None or status.startswith("5")):
        status = status if status and status.startswith("4") else None
    action = "delayed" if temporary else "failed"
    diagnostic = re.sub(r"\s+", " ", context).strip()[:500] or None
    return Recipient(
        addr, None, status, action, diagnostic, *_facts(explain(status, diagnostic, action))
    )


_ERROR_WORDS = re.compile(
    r"unknown|not exist|no such|invalid|rejected|undeliver|failed|failure|unable|could not|"
    r"couldn.t|quota|full|denied|refused|not found|unavailable|disabled|error|returned|"
    r"permanent|bounced|\b5\d\d\b|\b4\d\d\b|\b[45]\.\d{1,3}\.\d{1,3}\b",
    re.I,
)
_IGNORED_LOCALS = re.compile(
    r"^(mailer-daemon|postmaster|abuse|noreply|no-reply|root|daemon)$", re.I
)


MAX_FREE_TEXT_RECIPIENTS = 20


def _addresses_near_errors(msg: Message, body: str) -> list[str]:
    """Addresses in the human-readable part that sit on or next to an error line, excluding the
    bounce's own From/To (the reporter and us) and system mailboxes."""
    own = {
        a.lower()
        for a in ADDRESS.findall(
            " ".join(
                str(msg.get(h, "")) for h in ("From", "To", "Reply-To", "Sender", "Return-Path")
            )
        )
    }
    cut = re.search(
        r"(?im)^(-+ ?(original|returned|below this line|this is a copy)|received:|return-path:)",
        body,
    )
    head = body[: cut.start()] if cut else body
    lines = head.split("\n")
    found: list[str] = []
    for i, line in enumerate(lines):
        addresses = ADDRESS.findall(line)
        # The window depends on the line, not the address: test it once per line, or a line
        # holding thousands of addresses is searched thousands of times (quadratic).
        if not addresses or not _ERROR_WORDS.search(" ".join(lines[max(0, i - 2) : i + 3])):
            continue
        for addr in addresses:
            addr = addr.strip(".")
            local = addr.split("@", 1)[0]
            if addr.lower() in own or _IGNORED_LOCALS.match(local) or addr in found:
                continue
            found.append(addr)
            if len(found) == MAX_FREE_TEXT_RECIPIENTS:
                return found
    return found


def returned_original(msg: Message) -> Message | None:
    """The returned message (or its headers) attached to a bounce or report."""
    for part in mime.walk(msg):
        if (
            part.get_content_type()
            in ("message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers")
            and part is not msg
        ):
            try:
                return mime.attached_message(part)
            except Exception:
                return None
    return None
