"""A small, strict writer of outgoing messages as bytes.

The stdlib ``email`` package builds a message at 760/s (``EmailMessage``) to 2,500/s
(``MIMEMultipart``) here, which would cap the sender, so this writes the few shapes we send
directly: UTF-8 text parts in quoted-printable (``binascii.b2a_qp``, in C), a
multipart/alternative with the plain part first, RFC 2047 encoded words for non-ASCII header
text, CRLF line ends, and no header line over 998 octets. Any header value holding CR or LF is
refused (``HeaderInjection``): nothing from a template or a subscriber can add a header.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import HeaderInjection

Header = tuple[str, str]

_ATEXT_PHRASE = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ .]*$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII except ':' (RFC 5322 ftext)
_WORD_BYTES = 45  # 45 bytes -> 60 base64 chars; with "=?utf-8?b??=" a word stays under 75
MAX_LINE = 998
MAX_QP_LINE = 76


def check_header(name: str, value: str) -> None:
    """Refuse a header whose name is not a token or whose value could start a new header."""
    if not _HEADER_NAME.match(name):
        raise HeaderInjection(f"header name {name!r} is not allowed")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise HeaderInjection(f"{name}: a header value must not contain CR, LF or NUL")


def encode_words(text: str) -> str:
    """RFC 2047 base64 encoded words, folded between words; UTF-8 is never split mid-character.

    Greedy: each word takes as many whole characters as fit in ``_WORD_BYTES`` bytes (a cut
    moves back over UTF-8 continuation bytes, 0b10xxxxxx), working on the encoded bytes rather
    than character by character (a per-message cost: subjects are usually non-ASCII here).
    """
    data = text.encode("utf-8")
    if len(data) <= _WORD_BYTES:
        return _b_word(data)
    words: list[str] = []
    start, size = 0, len(data)
    while start < size:
        end = start + _WORD_BYTES
        if end < size:
            while data[end] & 0xC0 == 0x80:
                end -= 1
        words.append(_b_word(data[start:end]))
        start = end
    return "\r\n ".join(words)


def _b_word(data: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(data).decode("ascii") + "?="


def header_text(value: str) -> str:
    """Unstructured header text (Subject): as is when plain short ASCII, else encoded words."""
    if value.isascii() and "=?" not in value and len(value) < 900:
        return value
    return encode_words(value)


def format_address(name: str | None, address: str) -> str:
    """``Name <address>`` with the name quoted or encoded as needed."""
    if not name:
        return f"<{address}>"
    if name.isascii():
        if _ATEXT_PHRASE.match(name) and "=?" not in name:
            return f"{name} <{address}>"
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>'
    return f"{encode_words(name)} <{address}>"


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")


def _text_part(text: str) -> bytes:
    # The input goes in with CRLF line ends (given bare LFs, b2a_qp lets some lines reach 78
    # characters). Its soft breaks still come out as bare LF, so every line end is made CRLF.
    body = binascii.b2a_qp(_crlf(text), istext=True).replace(b"\r\n", b"\n")
    if b"=20\n" in body or b"=09\n" in body or body.endswith((b"=20", b"=09")):
        body = _fold_encoded_blanks(body)
    body = body.replace(b"\n", b"\r\n")
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body


def _fold_encoded_blanks(body: bytes) -> bytes:
    """b2a_qp lets a line that ends in an encoded space or tab (``=20``, ``=09``) run to 77
    characters; RFC 2045 allows 76. Such a line gets a soft break before its last escape."""
    lines = body.split(b"\n")
    for i, line in enumerate(lines):
        if len(line) > MAX_QP_LINE and line.endswith((b"=20", b"=09")):
            lines[i] = line[:-3] + b"=\n" + line[-3:]
    return b"\n".join(lines)


_PLAIN_HEADERS: list[Header] = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Content-Transfer-Encoding", "quoted-printable"),
]
_HTML_HEADERS: list[Header] = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Content-Transfer-Encoding", "quoted-printable"),
]


@dataclass(frozen=True)
class Built:
    """Headers (in order) and the body, ready for DKIM signing and ``to_bytes``."""

    headers: list[Header]
    body: bytes

    def to_bytes(self, prefix: Sequence[Header] = ()) -> bytes:
        lines = [f"{n}: {v}\r\n" for n, v in (*prefix, *self.headers)]
        return "".join(lines).encode("utf-8") + b"\r\n" + self.body


def build_body(plain: str | None, html: str | None, boundary: str) -> tuple[list[Header], bytes]:
    """The MIME headers and body: one text part, or multipart/alternative (plain, then HTML).

    ``boundary`` must not occur in the parts: callers pass one starting with ``=_``, which
    quoted-printable never produces.
    """
    if plain is not None and html is not None:
        b = boundary.encode("ascii")
        body = b"".join(
            [
                b"--" + b + b"\r\n",
                b"Content-Type: text/plain; charset=utf-8\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                _text_part(plain),
                b"--" + b + b"\r\n",
                b"Content-Type: text/html; charset=utf-8\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                _text_part(html),
                b"--" + b + b"--\r\n",
            ]
        )
        headers = [("Content-Type", f'multipart/alternative; boundary="{boundary}"')]
        return headers, body
    if html is not None:
        return list(_HTML_HEADERS), _text_part(html)
    return list(_PLAIN_HEADERS), _text_part(plain or "")


@dataclass(frozen=True)
class Envelope:
    """What one message needs besides its rendered text. Every value is checked for CR/LF."""

    from_name: str
    from_address: str
    to: str
    reply_to: str | None
    subject: str
    date: str
    message_id: str
    token: str
    feedback_id: str
    bulk: bool
    unsubscribe_url: str | None
    unsubscribe_mailto: str | None


TOKEN_HEADER = "X-Tart-Token"  # noqa: S105 - a header name, not a secret


def build_message(env: Envelope, plain: str | None, html: str | None) -> Built:
    """The headers and body of one message; raises HeaderInjection on a CR/LF anywhere."""
    raw: list[Header] = [
        ("From", env.from_name),
        ("From", env.from_address),
        ("To", env.to),
        ("Subject", env.subject),
        ("Date", env.date),
        ("Message-ID", env.message_id),
        (TOKEN_HEADER, env.token),
        ("Feedback-ID", env.feedback_id),
    ]
    if env.reply_to:
        raw.append(("Reply-To", env.reply_to))
    if env.unsubscribe_url:
        raw.append(("List-Unsubscribe", env.unsubscribe_url))
    if env.unsubscribe_mailto:
        raw.append(("List-Unsubscribe", env.unsubscribe_mailto))
    for name, value in raw:
        check_header(name, value)
    for name, value in (("From", env.from_address), ("To", env.to)):
        if any(c in value for c in '<>,;\\"') or value.count("@") != 1:
            raise HeaderInjection(f"{name}: {value!r} is not a plain address")
    headers: list[Header] = [
        ("From", format_address(env.from_name, env.from_address)),
        ("To", f"<{env.to}>"),
        ("Subject", header_text(env.subject)),
        ("Date", env.date),
        ("Message-ID", f"<{env.message_id}>"),
    ]
    if env.reply_to:
        headers.append(("Reply-To", f"<{env.reply_to}>"))
    unsubscribe = [f"<{u}>" for u in (env.unsubscribe_url, env.unsubscribe_mailto) if u]
    if unsubscribe:
        headers.append(("List-Unsubscribe", ", ".join(unsubscribe)))
        if env.unsubscribe_url:
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    if env.bulk:
        headers.append(("Precedence", "bulk"))
    headers.append(("Feedback-ID", env.feedback_id))
    headers.append((TOKEN_HEADER, env.token))
    for name, value in headers:
        if len(name) + len(value) + 2 > MAX_LINE and "\r\n" not in value:
            raise HeaderInjection(f"{name}: longer than {MAX_LINE} characters")
    mime_headers, body = build_body(plain, html, "=_tart_" + env.token)
    headers.append(("MIME-Version", "1.0"))
    headers.extend(mime_headers)
    return Built(headers, body)
