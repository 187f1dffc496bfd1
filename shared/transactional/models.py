"""What one transactional send carries, and the checks it must pass before it is stored. Every
rule about a send's data, headers and attachments lives here, so the API, the admin and other
code (double opt-in, welcome mails) refuse the same things with the same words."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import HeaderInjection, PayloadTooLarge, Unprocessable

MAX_BATCH = 500
MAX_HEADERS = 20
MAX_HEADER_VALUE = 900
MAX_ATTACHMENTS = 20
# Custom headers an integrator may add; ours (X-Tart-*) and the ones we write are not among them.
_CUSTOM_HEADER = re.compile(r"^X-[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
_OWN_PREFIX = "x-tart-"
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_FILENAME_BAD = re.compile(r'[\x00-\x1f\x7f"\\/]')
_PLAIN_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]\\]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class Attachment:
    """One file: its name, MIME type and content (decoded)."""

    filename: str
    content_type: str
    content: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "content": base64.b64encode(self.content).decode("ascii"),
        }


@dataclass(frozen=True)
class Payload:
    """A send's data (what the template sees as ``data``), extra headers and attachments."""

    data: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)


def check_data(data: Mapping[str, Any] | None, max_bytes: int) -> dict[str, Any]:
    """The data object, or Unprocessable / PayloadTooLarge naming the limit."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise Unprocessable("data: must be a JSON object")
    size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > max_bytes:
        raise PayloadTooLarge(f"data: {size} bytes as JSON, more than the {max_bytes} allowed")
    return dict(data)


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Allowed extra headers (Reply-To and custom X- headers), values checked for CR, LF and NUL.

    Raises:
      HeaderInjection: a value holding CR, LF or NUL (a 400).
      Unprocessable: a header that is not on the allow-list, or too long.
    """
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise Unprocessable("headers: names and values must be strings")
        if "\r" in value or "\n" in value or "\x00" in value or "\r" in name or "\n" in name:
            raise HeaderInjection(f"headers: {name!r}: CR, LF and NUL are not allowed")
        if name.lower() == "reply-to":
            value = value.strip()
            if not _PLAIN_ADDRESS.match(value):
                raise Unprocessable("headers: Reply-To must be one plain address")
            name = "Reply-To"
        elif not _CUSTOM_HEADER.match(name) or name.lower().startswith(_OWN_PREFIX):
            raise Unprocessable(f"headers: {name!r} is not allowed (Reply-To and X- headers only)")
        if len(value) > MAX_HEADER_VALUE:
            raise Unprocessable(f"headers: {name}: longer than {MAX_HEADER_VALUE} characters")
        if any(existing.lower() == name.lower() for existing in out):
            raise Unprocessable(f"headers: {name} is given twice")
        out[name] = value
    if len(out) > MAX_HEADERS:
        raise Unprocessable(f"headers: at most {MAX_HEADERS}")
    return out


def check_attachments(items: list[Mapping[str, Any]] | None, max_bytes: int) -> list[Attachment]:
    """Decoded attachments; Unprocessable for a bad name, type or base64, PayloadTooLarge when
    their decoded total is over ``max_bytes``."""
    out: list[Attachment] = []
    total = 0
    if len(items or []) > MAX_ATTACHMENTS:
        raise Unprocessable(f"attachments: at most {MAX_ATTACHMENTS}")
    for i, item in enumerate(items or []):
        where = f"attachments[{i}]"
        filename = str(item.get("filename") or "").strip()
        if not filename or len(filename) > 255 or _FILENAME_BAD.search(filename):
            raise Unprocessable(f"{where}.filename: 1 to 255 characters, no quotes, slashes or "
                                "control characters")  # fmt: skip
        content_type = str(item.get("content_type") or "").strip().lower()
        if not _CONTENT_TYPE.match(content_type):
            raise Unprocessable(f"{where}.content_type: not a MIME type such as application/pdf")
        raw = item.get("content")
        if not isinstance(raw, str):
            raise Unprocessable(f"{where}.content: base64 text is required")
        if (len(raw) * 3) // 4 - 2 > max_bytes:  # before decoding a huge string
            raise PayloadTooLarge(f"attachments: more than the {max_bytes} bytes allowed")
        try:
            content = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise Unprocessable(f"{where}.content: not valid base64") from None
        total += len(content)
        if total > max_bytes:
            raise PayloadTooLarge(
                f"attachments: {total} bytes or more in total, more than the {max_bytes} allowed"
            )
        out.append(Attachment(filename, content_type, content))
    return out


def check_payload(
    data: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    attachments: list[Mapping[str, Any]] | None,
    *,
    data_max_bytes: int,
    attachments_max_bytes: int,
) -> Payload:
    """A send's payload, every part checked (see the functions above)."""
    return Payload(
        check_data(data, data_max_bytes),
        check_headers(headers),
        check_attachments(attachments, attachments_max_bytes),
    )


def suppression_reason(subscriber_state: str | None, erased: bool) -> str | None:
    """Why a transactional send to this recipient is refused, or None. A subscriber who bounced
    or complained is refused; one who unsubscribed still gets transactional mail (a receipt, a
    password reset), as with Postmark's transactional streams. An address that is no subscriber
    is refused when it was erased."""
    if subscriber_state in ("bounced", "complained"):
        return subscriber_state
    if subscriber_state is None and erased:
        return "erased"
    return None
