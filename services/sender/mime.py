"""A small, strict writer of outgoing messages as bytes.

The stdlib ``email`` package builds a message at 760/s (``EmailMessage``) to 2,500/s
(``MIMEMultipart``) here, which would cap the sender, so this writes the few shapes we send
directly: UTF-8 text parts in quoted-printable (``binascii.b2a_qp``, in C), a
multipart/alternative with the plain part first, RFC 2047 encoded words for non-ASCII header
text, CRLF line ends, and no header line over 998 octets. Any header value holding CR or LF is
refused (``HeaderInjection``): nothing from a template or a subscriber can add a header.

What every message of a variation shares is built once in a ``Layout``: the headers that do not
vary (From, Reply-To, List-Unsubscribe-Post, Precedence, Feedback-ID, MIME-Version), checked once,
and the quoted-printable form of each body line seen before (a template's static lines, most of
a body, encode the same for every recipient).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from shared.errors import HeaderInjection

Header = tuple[str, str]

_ATEXT_PHRASE = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ .]*$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII except ':' (RFC 5322 ftext)
# A line quoted-printable leaves unchanged: printable ASCII without "=", not ending in a blank,
# and not a lone "." (b2a_qp encodes that one).
_AS_IS = re.compile(r"(?!\.\Z)[ -<>-~]*[!-<>-~]\Z|\Z")
_WORD_BYTES = 45  # 45 bytes -> 60 base64 chars; with "=?utf-8?b??=" a word stays under 75
MAX_LINE = 998
MAX_QP_LINE = 76
MAX_CACHED_LINES = 4096  # per Layout: a batch's static lines plus its recipients' varying ones


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


def _text_part(text: str, lines: dict[str, bytes] | None = None) -> bytes:
    """``text`` in quoted-printable, CRLF line ends, ending in CRLF.

    Quoted-printable encodes each line on its own (soft breaks restart at each line end), so a
    line's encoding can be reused: with ``lines`` (line -> encoding) each line seen before is not
    encoded again. Both ways give the same bytes (tests/sender/test_message.py).
    """
    if lines is None:
        return _qp(_crlf(text))
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    ended = text.split("\n")
    last = ended.pop()  # the text after its last line end ("" when it ends with one)
    out = []
    for line in ended:  # each encoded as it is in the whole text: followed by a line end
        encoded = lines.get(line)
        if encoded is None:
            if len(line) < MAX_QP_LINE and _AS_IS.match(line):
                encoded = line.encode("ascii") + b"\r\n"  # quoted-printable leaves it as it is
            else:
                encoded = _qp(line.encode("utf-8") + b"\r\n")
            if len(lines) < MAX_CACHED_LINES:
                lines[line] = encoded
        out.append(encoded)
    if last or not out:
        out.append(_qp(last.encode("utf-8")))
    return b"".join(out)


def _qp(data: bytes) -> bytes:
    # The input goes in with CRLF line ends (given bare LFs, b2a_qp lets some lines reach 78
    # characters). Its soft breaks still come out as bare LF, so every line end is made CRLF.
    body = binascii.b2a_qp(data, istext=True).replace(b"\r\n", b"\n")
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


def build_body(
    plain: str | None, html: str | None, boundary: str, lines: dict[str, bytes] | None = None
) -> tuple[list[Header], bytes]:
    """The MIME headers and body: one text part, or multipart/alternative (plain, then HTML).

    ``boundary`` must not occur in the parts: callers pass one starting with ``=_``, which
    quoted-printable never produces. ``lines``: see ``_text_part``.
    """
    if plain is not None and html is not None:
        b = boundary.encode("ascii")
        body = b"".join(
            [
                b"--" + b + b"\r\n",
                b"Content-Type: text/plain; charset=utf-8\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                _text_part(plain, lines),
                b"--" + b + b"\r\n",
                b"Content-Type: text/html; charset=utf-8\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                _text_part(html, lines),
                b"--" + b + b"--\r\n",
            ]
        )
        headers = [("Content-Type", f'multipart/alternative; boundary="{boundary}"')]
        return headers, body
    if html is not None:
        return list(_HTML_HEADERS), _text_part(html, lines)
    return list(_PLAIN_HEADERS), _text_part(plain or "", lines)


@dataclass(frozen=True)
class FilePart:
    """An attachment: name, MIME type (already checked: shared/transactional/models.py) and
    content."""

    filename: str
    content_type: str
    content: bytes


def _param(name: str, value: str) -> str:
    """A MIME parameter: quoted ASCII, or RFC 2231 UTF-8 percent-encoding for other names."""
    if value.isascii() and not any(c in value for c in '"\\\r\n'):
        return f'{name}="{value}"'
    return f"{name}*=utf-8''{quote(value, safe='')}"


def with_attachments(
    headers: list[Header], body: bytes, files: Sequence[FilePart], boundary: str
) -> tuple[list[Header], bytes]:
    """Wrap a built body (its MIME headers and bytes) in multipart/mixed with ``files`` after
    it, each in base64 lines of 76 characters. ``boundary`` starts with ``=_`` (never in base64
    or quoted-printable)."""
    b = boundary.encode("ascii")
    parts = [b"--" + b + b"\r\n"]
    parts.extend(f"{n}: {v}\r\n".encode("ascii") for n, v in headers)
    parts.extend([b"\r\n", body])
    for f in files:
        encoded = base64.encodebytes(f.content).replace(b"\n", b"\r\n")
        parts.extend([
            b"--" + b + b"\r\n",
            f"Content-Type: {f.content_type}; {_param('name', f.filename)}\r\n".encode("ascii"),
            f"Content-Disposition: attachment; {_param('filename', f.filename)}\r\n".encode(
                "ascii"
            ),
            b"Content-Transfer-Encoding: base64\r\n\r\n",
            encoded,
        ])  # fmt: skip
    parts.append(b"--" + b + b"--\r\n")
    return [("Content-Type", f'multipart/mixed; boundary="{boundary}"')], b"".join(parts)


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


def _check_address(name: str, value: str) -> None:
    check_header(name, value)
    if any(c in value for c in '<>,;\\"') or value.count("@") != 1:
        raise HeaderInjection(f"{name}: {value!r} is not a plain address")


def _check_length(name: str, value: str) -> None:
    if len(name) + len(value) + 2 > MAX_LINE and "\r\n" not in value:
        raise HeaderInjection(f"{name}: longer than {MAX_LINE} characters")


# Headers whose value differs from one recipient to the next (the rest are the same for all).
VARYING_HEADERS = frozenset(
    {"To", "Subject", "Date", "Message-ID", "List-Unsubscribe", TOKEN_HEADER}
)


class Layout:
    """The messages of one variation: the headers they share, built and checked once, and the
    quoted-printable lines seen so far. ``build`` writes one recipient's message.

    Header order: From, To, Subject, Date, Message-ID, Reply-To, List-Unsubscribe,
    List-Unsubscribe-Post, Precedence, Feedback-ID, X-Tart-Token, MIME-Version, Content-Type.
    """

    def __init__(
        self,
        *,
        from_name: str,
        from_address: str,
        reply_to: str | None,
        feedback_id: str,
        bulk: bool,
        one_click: bool,
    ) -> None:
        """``one_click``: messages carry an https unsubscribe URL (RFC 8058's POST target)."""
        check_header("From", from_name)
        _check_address("From", from_address)
        self.from_ = ("From", format_address(from_name, from_address))
        self.reply_to: Header | None = None
        if reply_to:
            check_header("Reply-To", reply_to)
            self.reply_to = ("Reply-To", f"<{reply_to}>")
        self.one_click = one_click
        self.precedence = ("Precedence", "bulk") if bulk else None
        check_header("Feedback-ID", feedback_id)
        self.feedback_id = ("Feedback-ID", feedback_id)
        for name, value in (self.from_, self.reply_to or ("", ""), self.feedback_id):
            _check_length(name, value)
        self.lines: dict[str, bytes] = {}

    def build(
        self,
        *,
        to: str,
        subject: str,
        date: str,
        message_id: str,
        token: str,
        unsubscribe_url: str | None,
        unsubscribe_mailto: str | None,
        plain: str | None,
        html: str | None,
        extra_headers: Sequence[Header] = (),
        files: Sequence[FilePart] = (),
    ) -> Built:
        """One message; raises HeaderInjection on a CR/LF in any value. ``extra_headers``: a
        transactional send's Reply-To (replacing the sender's) and X- headers, placed after
        Feedback-ID; ``files``: its attachments (multipart/mixed)."""
        if (unsubscribe_url is not None) != self.one_click:
            raise ValueError("an unsubscribe URL goes with a one-click layout")
        _check_address("To", to)
        for name, value in (
            ("Subject", subject), ("Date", date), ("Message-ID", message_id),
            (TOKEN_HEADER, token), ("List-Unsubscribe", unsubscribe_url or ""),
            ("List-Unsubscribe", unsubscribe_mailto or ""),
        ):  # fmt: skip
            check_header(name, value)
        headers: list[Header] = [
            self.from_,
            ("To", f"<{to}>"),
            ("Subject", header_text(subject)),
            ("Date", date),
            ("Message-ID", f"<{message_id}>"),
        ]
        reply_to = self.reply_to
        extra: list[Header] = []
        for name, value in extra_headers:
            check_header(name, value)
            if name == "Reply-To":
                _check_address(name, value)
                reply_to = (name, f"<{value}>")
            else:
                extra.append((name, value))
        if reply_to is not None:
            headers.append(reply_to)
        unsubscribe = [f"<{u}>" for u in (unsubscribe_url, unsubscribe_mailto) if u]
        if unsubscribe:
            headers.append(("List-Unsubscribe", ", ".join(unsubscribe)))
            if unsubscribe_url:
                headers.append(_ONE_CLICK)
        if self.precedence is not None:
            headers.append(self.precedence)
        headers.append(self.feedback_id)
        headers.extend(extra)
        headers.append((TOKEN_HEADER, token))
        for name, value in headers:
            if name in VARYING_HEADERS or name.startswith("X-"):
                _check_length(name, value)
        mime_headers, body = build_body(plain, html, "=_tart_" + token, self.lines)
        if files:
            mime_headers, body = with_attachments(mime_headers, body, files, "=_tartm_" + token)
        headers.append(_MIME_VERSION)
        headers.extend(mime_headers)
        return Built(headers, body)


_ONE_CLICK: Header = ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
_MIME_VERSION: Header = ("MIME-Version", "1.0")


def varies(header: Header) -> bool:
    """Whether a header of a built message differs between the recipients of its layout."""
    name, value = header
    return name in VARYING_HEADERS or (name == "Content-Type" and "boundary=" in value)


def build_message(env: Envelope, plain: str | None, html: str | None) -> Built:
    """The headers and body of one message; raises HeaderInjection on a CR/LF anywhere."""
    layout = Layout(
        from_name=env.from_name,
        from_address=env.from_address,
        reply_to=env.reply_to,
        feedback_id=env.feedback_id,
        bulk=env.bulk,
        one_click=env.unsubscribe_url is not None,
    )
    return layout.build(
        to=env.to,
        subject=env.subject,
        date=env.date,
        message_id=env.message_id,
        token=env.token,
        unsubscribe_url=env.unsubscribe_url,
        unsubscribe_mailto=env.unsubscribe_mailto,
        plain=plain,
        html=html,
    )
