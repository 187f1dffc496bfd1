"""One SMTP session after the handshake, sending each message's envelope pipelined (RFC 2920).

aiosmtplib opens the session: TCP, TLS or STARTTLS, EHLO and AUTH. Its protocol keeps one reply
per awaited command and drops a reply that arrives early ("if multiple commands are written to
the transport without awaiting, response data will be lost"), so it cannot pipeline. After the
handshake this protocol takes the transport over. When the relay offers PIPELINING, MAIL, RCPT
and DATA go in one write, and behind a message's content goes the next message's envelope: one
round trip a message instead of four, for us and for the relay.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import NamedTuple

import aiosmtplib

MAX_LINE = 8192  # RFC 5321 allows 512 octets a reply line; be lenient, not unbounded
MAX_BUFFER = 64 * 1024
_BARE_LINE_END = re.compile(rb"\r\n|\r|\n")


class Reply(NamedTuple):
    code: int
    message: str
    stage: str = "content"  # the step that answered: mail, rcpt, data, or the content itself


STAGES = ("mail", "rcpt", "data")  # the envelope's steps, in the order they are answered


def wire_content(data: bytes) -> bytes:
    """The message as sent after DATA: CRLF line ends, dots stuffed, ended by ``.``.

    Ours is already in CRLF form (services/sender/mime.py): three memchr-speed counts prove it,
    and the regular expression runs only for a message that needs it.
    """
    crlf = data.count(b"\r\n")
    if crlf != data.count(b"\n") or crlf != data.count(b"\r"):
        data = _BARE_LINE_END.sub(b"\r\n", data)
    if data.startswith(b"."):
        data = b"." + data
    if b"\r\n." in data:
        data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


Envelope = tuple[bytes, bytes, bytes]  # MAIL, RCPT and DATA


def envelope(mail_from: str, rcpt: str) -> Envelope:
    """MAIL, RCPT and DATA for one recipient; ValueError for an address that could inject a
    command (ours are validated long before, so this is a last guard)."""
    commands = []
    for verb, address in ((b"MAIL FROM", mail_from), (b"RCPT TO", rcpt)):
        encoded = address.encode()
        if b"\r" in encoded or b"\n" in encoded or b"\0" in encoded:
            raise ValueError("an envelope address holds a control character")
        commands.append(verb + b":<" + encoded + b">\r\n")
    return commands[0], commands[1], b"DATA\r\n"


class Session(asyncio.Protocol):
    """Reads replies into a queue as they arrive; ``_read(n)`` waits for the next ``n``."""

    def __init__(self, client: aiosmtplib.SMTP, timeout: float) -> None:
        transport = client.transport
        if not isinstance(transport, asyncio.Transport) or transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("the connection closed during the handshake")
        self.pipelining = client.supports_extension("pipelining")
        self.timeout = timeout
        self._transport = transport
        self._buffer = bytearray()
        self._lines: list[str] = []  # the reply being read, when it spans lines
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 0
        self._error: Exception | None = None
        self._ahead: Envelope | None = None  # the next message's envelope, replies unread
        transport.set_protocol(self)

    @property
    def is_connected(self) -> bool:
        """Open and in step: a reply nobody asked for (a relay's idle timeout) retires it."""
        in_step = self._ahead is not None or not self._replies
        return self._error is None and not self._transport.is_closing() and in_step

    async def send(self, commands: Envelope, data: bytes, then: Envelope | None = None) -> Reply:
        """One message (``commands`` from ``envelope``): the first refusal among MAIL, RCPT and
        DATA, else the reply to the content. After a refusal the session is ready for the next
        message. Raises SMTPException when the session itself fails (lost, timed out, garbled).

        With ``then`` and PIPELINING, the next message's envelope goes in the same write as this
        content (RFC 2920 allows commands after the ending dot): one round trip a message. The
        next call must then be for that message."""
        expected = ((250,), (250, 251), (354,))
        if self._ahead is not None:
            if self._ahead is not commands:
                raise RuntimeError("the envelope sent ahead belongs to another message")
            self._ahead = None
            replies = await self._read(3)
        elif self.pipelining:
            self._transport.write(b"".join(commands))
            replies = await self._read(3)
        else:
            replies = []
            for command, codes in zip(commands, expected, strict=True):
                self._transport.write(command)
                replies += await self._read(1)
                if replies[-1].code not in codes:
                    break
        for reply, codes, stage in zip(replies, expected, STAGES, strict=False):
            if reply.code not in codes:
                await self._abandon(replies)
                return reply._replace(stage=stage)
        if then is not None and self.pipelining:
            self._transport.write(wire_content(data) + b"".join(then))
            self._ahead = then
        else:
            self._transport.write(wire_content(data))
        return (await self._read(1))[0]

    async def _abandon(self, replies: list[Reply]) -> None:
        """Leave a refused envelope. A relay may accept DATA after refusing every recipient
        (RFC 2920 3.1): then a lone dot ends an empty message, else RSET clears the envelope."""
        if not self.is_connected or any(r.code == 421 for r in replies):
            return
        try:
            self._transport.write(b".\r\n" if replies[-1].code == 354 else b"RSET\r\n")
            await self._read(1)
        except aiosmtplib.SMTPException:
            self.close()  # the refusal stands; the session is not worth keeping

    async def quit(self) -> None:
        try:
            if self.is_connected:
                self._transport.write(b"QUIT\r\n")
                await asyncio.wait_for(self._read(1), 2)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        self._transport.close()

    async def _read(self, n: int) -> list[Reply]:
        if len(self._replies) < n and self._error is None:
            self._wanted = n
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            # A timer handle rather than asyncio.timeout(), which costs twice as much and runs
            # twice a message.
            timer = loop.call_later(self.timeout, self._time_out, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if len(self._replies) < n:
            assert self._error is not None
            raise self._error
        return [self._replies.popleft() for _ in range(n)]

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse()
        except aiosmtplib.SMTPResponseException as exc:
            self._fail(exc)
            self.close()
            return
        waiter = self._waiter
        if waiter is not None and len(self._replies) >= self._wanted and not waiter.done():
            waiter.set_result(None)

    def _parse(self) -> None:
        start = 0
        while (end := self._buffer.find(b"\n", start)) != -1:
            line = self._buffer[start : end + 1]
            start = end + 1
            if len(line) > MAX_LINE or not line[:3].isdigit():
                raise aiosmtplib.SMTPResponseException(-1, f"malformed reply line {line[:80]!r}")
            self._lines.append(line[4:].strip(b" \t\r\n").decode("utf-8", "surrogateescape"))
            if line[3:4] != b"-":
                self._replies.append(Reply(int(line[:3]), "\n".join(self._lines)))
                self._lines = []
        del self._buffer[:start]
        if len(self._buffer) > MAX_BUFFER or len(self._lines) > 100:
            raise aiosmtplib.SMTPResponseException(-1, "reply too long")

    def _time_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_exception(aiosmtplib.SMTPReadTimeoutError("timed out waiting for the relay"))
            self.close()

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("the relay closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        error = aiosmtplib.SMTPServerDisconnected("connection lost")
        error.__cause__ = exc
        self._fail(error)
