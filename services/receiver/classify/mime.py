"""Careful MIME reading: a parse that cannot recurse without bound, header lists that keep
duplicates, and text extraction that never raises on bad charsets or encodings."""

from __future__ import annotations

import base64
import binascii
import email
import email.header
import email.policy
import quopri
import re
from collections.abc import Iterator
from email.message import Message

MAX_DEPTH = 12  # real bounces nest 3-4 levels; deeper is an attack or a loop
MAX_PARTS = 300
MAX_TEXT = 256 * 1024  # what we keep of a human-readable part
MAX_HEADER_CHARS = 16_384
MAX_PARAM_HEADER_CHARS = 2_048


class MimeError(ValueError):
    """The message cannot be read safely (too deep, too many parts, unparsable)."""


def _nesting_depth(raw: bytes) -> int:
    """Distinct multipart boundaries declared: a cheap upper bound of the nesting depth, checked
    before the stdlib parser recurses into it."""
    return len(set(re.findall(rb'(?i)boundary\s*=\s*"?([^";\r\n]+)', raw[: 4 * 1024 * 1024])))


def parse(raw: bytes) -> Message:
    if _nesting_depth(raw) > MAX_DEPTH * 16:
        raise MimeError("MIME nesting too deep")
    try:
        return email.message_from_bytes(clip_fields(raw), policy=email.policy.compat32)
    except RecursionError as error:
        raise MimeError("MIME nesting too deep") from error


# A header-shaped field (with its folded continuation lines) at the start of any line. The
# pattern is unambiguous, so matching is linear.
_FIELD = re.compile(rb"(?m)^([A-Za-z0-9-]{1,60}:)([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")


def clip_fields(raw: bytes) -> bytes:
    """Cut header fields before a stdlib-based parser reads them: Content-* fields to
    MAX_PARAM_HEADER_CHARS, others to MAX_HEADER_CHARS.

    The stdlib MIME parameter reader (run while parsing, to find boundaries) and its RFC 2047
    decoder (run by mailparser inside parsedmarc) are quadratic in a field's length; no real
    header comes near the caps. Only the copy that is classified is clipped: the stored raw
    message is untouched.
    """

    def clip(match: re.Match[bytes]) -> bytes:
        name, value = match.group(1), match.group(2)
        limit = MAX_PARAM_HEADER_CHARS if name[:8].lower() == b"content-" else MAX_HEADER_CHARS
        return name + value[:limit] if len(value) > limit else match.group(0)

    return _FIELD.sub(clip, raw)


def walk(msg: Message, depth: int = 0) -> Iterator[Message]:
    """Every part, depth first, with nesting and part count capped."""
    count = 0
    stack: list[tuple[Message, int]] = [(msg, depth)]
    while stack:
        part, level = stack.pop()
        count += 1
        if count > MAX_PARTS:
            raise MimeError("too many MIME parts")
        yield part
        if level >= MAX_DEPTH:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, level + 1) for p in reversed(payload) if isinstance(p, Message))


def decode_header(value: object) -> str:
    """A header value as text: RFC 2047 words decoded, folding removed; never raises."""
    if isinstance(value, email.header.Header):
        value = str(value)
    text = str(value)
    if len(text) > MAX_HEADER_CHARS:
        # The stdlib decoder is quadratic in the number of encoded words; a hostile header must
        # not stall a parser worker, and no real header comes near this length.
        text = text[:MAX_HEADER_CHARS] + f" [truncated {len(text) - MAX_HEADER_CHARS} chars]"
    try:
        if "=?" in text:
            text = str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, UnicodeError, email.errors.MessageError):
        pass
    return re.sub(r"\r?\n[ \t]*", " ", text).strip()


def header_list(msg: Message) -> list[list[str]]:
    """Every header in order, duplicates included, as [name, value] pairs."""
    return [[name, decode_header(value)] for name, value in msg.raw_items()]


def payload_bytes(part: Message) -> bytes:
    """The decoded body of a leaf part (base64/qp undone); b'' when there is none."""
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError):
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def text_of(part: Message, limit: int = MAX_TEXT) -> str:
    """A leaf part's text in its declared charset, with a lenient fallback."""
    data = payload_bytes(part)[:limit]
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("latin-1")


def body_text(msg: Message) -> str:
    """All text/plain parts (or text/html stripped of tags when there is no plain part),
    outside returned originals, joined."""
    plain: list[str] = []
    html: list[str] = []
    for part in _outer_parts(msg):
        ctype = part.get_content_type()
        if ctype == "text/plain" or (ctype.startswith("text/") and ctype != "text/html"):
            plain.append(text_of(part))
        elif ctype == "text/html":
            html.append(re.sub(r"<[^>]+>", " ", text_of(part)))
    return "\n".join(plain or html)


def _outer_parts(msg: Message) -> Iterator[Message]:
    """Leaf parts that are not inside a message/rfc822 (the returned original)."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, level = stack.pop()
        if part.get_content_maintype() == "message" and level > 0:
            continue
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            if level < MAX_DEPTH:
                stack.extend((p, level + 1) for p in reversed(payload) if isinstance(p, Message))
            continue
        yield part


def _block_text(block: Message) -> str:
    try:
        return block.as_string()
    except (email.errors.MessageError, ValueError, LookupError):
        # as_string() re-folds fields and refuses a value that looks like an embedded header.
        return "".join(f"{name}: {value}\n" for name, value in block.raw_items()) + "\n"


def structured_text(part: Message) -> str:
    """The text of a message/delivery-status or message/feedback-report part, whatever the
    parser made of it (a list of field blocks, or a string) and undoing base64/qp, which some
    MTAs apply to these parts although RFC 6532 says not to."""
    payload = part.get_payload()
    if isinstance(payload, list):
        text = "\n".join(_block_text(p) for p in payload if isinstance(p, Message))
    else:
        text = str(payload)
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte == "base64":
        try:
            return base64.b64decode(re.sub(r"\s+", "", text)).decode("utf-8", "replace")
        except (ValueError, binascii.Error):
            return text
    if cte == "quoted-printable":
        return quopri.decodestring(text.encode("utf-8", "replace")).decode("utf-8", "replace")
    return text


def attached_message(part: Message) -> Message | None:
    """The message inside a message/rfc822 or text/rfc822-headers part."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str) and payload.strip():
        return email.message_from_string(payload.lstrip(), policy=email.policy.compat32)
    return None
