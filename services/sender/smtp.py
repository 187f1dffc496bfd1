"""SMTP relays and pools of reused sessions: aiosmtplib's handshake, then our pipelining
(services/sender/session.py).

A relay URL is ``smtp://``, ``smtps://`` (TLS from the start) or ``smtp+starttls://``, with an
optional ``user:password@`` and an optional ``#name`` (what ``senders.relay`` refers to; the
default name is ``host:port``). Each worker process keeps up to ``smtp_pool_size`` open
connections per relay and reuses them across batches.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import aiosmtplib

from services.sender import metrics
from services.sender.session import Envelope, Session, envelope
from shared.config import get_settings
from shared.logging import get_logger
from shared.tls import client_context

log = get_logger(__name__)

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# "expired": never written to the relay, because the claim's lease was running out (batch.py).
Kind = Literal["sent", "temporary", "permanent", "expired"]


@dataclass(frozen=True)
class Relay:
    name: str
    hostname: str
    port: int
    use_tls: bool
    start_tls: bool
    username: str | None
    password: str | None


def parse_relay(url: str) -> Relay:
    """A Relay from a URL; raises ValueError naming the problem."""
    parts = urlsplit(url.strip())
    schemes = {"smtp": (False, False, 25), "smtps": (True, False, 465),
               "smtp+starttls": (False, True, 587)}  # fmt: skip
    if parts.scheme not in schemes:
        raise ValueError(f"relay {url!r}: scheme must be smtp, smtps or smtp+starttls")
    if not parts.hostname:
        raise ValueError(f"relay {url!r}: no host")
    use_tls, start_tls, default_port = schemes[parts.scheme]
    port = parts.port or default_port
    return Relay(
        name=parts.fragment or f"{parts.hostname}:{port}",
        hostname=parts.hostname,
        port=port,
        use_tls=use_tls,
        start_tls=start_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True)
class SmtpResult:
    """What the relay said about one message."""

    kind: Kind
    code: int | None
    reply: str

    @property
    def enhanced_status(self) -> str | None:
        match = _ENHANCED.search(self.reply)
        return ".".join(match.groups()) if match else None


def _classify(code: int, message: str) -> SmtpResult:
    text = f"{code} {message}".strip()
    if 200 <= code < 300:
        return SmtpResult("sent", code, text)
    return SmtpResult("permanent" if code >= 500 else "temporary", code, text)


class RelaySetupError(Exception):
    """The relay refused the session itself (EHLO, STARTTLS or AUTH), not this recipient.

    Always a temporary result: a wrong relay password must not bounce every recipient.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


EXPIRED = SmtpResult("expired", None, "not sent: the claim's lease was running out")


@dataclass
class _Job:
    commands: Envelope
    data: bytes
    done: asyncio.Future[SmtpResult]
    deadline: float  # time.monotonic() after which the message must not be started


class RelayPool:
    """Up to ``size`` sessions with one relay, each kept by a task that takes queued messages in
    turn and writes the next one's envelope behind the current content (session.py).

    ``tls_context`` verifies the relay for smtps:// and smtp+starttls:// (default: the one
    built from TART_TLS_CA_FILE / TART_TLS_VERIFY).
    """

    def __init__(
        self, relay: Relay, size: int, timeout: float, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self.relay = relay
        self.size = size
        self.timeout = timeout
        self.tls_context = tls_context or client_context(get_settings())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._runners: set[asyncio.Task[None]] = set()
        self._waiting = 0  # runners waiting for a message
        self._seconds = metrics.SMTP_SECONDS.labels(relay.name)
        self._replies: dict[int | None, Any] = {}

    async def _connect(self) -> Session:
        """aiosmtplib's handshake, then our pipelining session on its transport."""
        r = self.relay
        client = aiosmtplib.SMTP(
            hostname=r.hostname,
            port=r.port,
            use_tls=r.use_tls,
            start_tls=r.start_tls if r.start_tls else False,
            username=r.username,
            password=r.password,
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
        try:
            await client.connect()  # TLS or STARTTLS (required, never opportunistic), then AUTH
            if client.last_ehlo_response is None:
                await client.ehlo()
            return Session(client, self.timeout)
        except aiosmtplib.SMTPResponseException as exc:
            await _quit(client)
            raise RelaySetupError(exc.code, exc.message) from exc
        except BaseException:
            client.close()  # a failed handshake or a timeout: nothing worth a polite QUIT
            raise

    async def send(self, mail_from: str, rcpt: str, data: bytes) -> SmtpResult:
        """Send one message; never raises for SMTP or connection trouble."""
        return await self.submit(mail_from, rcpt, data)

    def submit(
        self, mail_from: str, rcpt: str, data: bytes, deadline: float = math.inf
    ) -> asyncio.Future[SmtpResult]:
        """Queue one message; its future gets the relay's answer (never an exception for SMTP
        or connection trouble). A message still queued at ``deadline`` (``time.monotonic()``) is
        not started: its result is ``expired``. Raises ValueError for an unsafe address."""
        commands = envelope(mail_from, rcpt)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a queue and tasks belong to one event loop
            self._loop, self._jobs, self._runners, self._waiting = loop, asyncio.Queue(), set(), 0
        job = _Job(commands, data, loop.create_future(), deadline)
        self._jobs.put_nowait(job)
        if self._waiting == 0 and len(self._runners) < self.size:
            runner = loop.create_task(self._run())
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        return job.done

    async def _run(self) -> None:
        """One session's life: deliver messages from the queue until close() sends None."""
        session: Session | None = None
        job: _Job | None = None
        try:
            while True:
                if job is None:
                    self._waiting += 1
                    try:
                        job = await self._jobs.get()
                    finally:
                        self._waiting -= 1
                    if job is None:
                        break
                    if _expired(job):  # (a job whose envelope went ahead is always delivered)
                        job = None
                        continue
                session, job = await self._deliver(session, job)
        except BaseException as exc:  # a bug or a cancelled loop: no sender may wait forever
            _abort(job, exc)
            raise
        finally:
            if session is not None:
                await session.quit()

    def _follower(self) -> _Job | None:
        """The next queued message, if one is waiting, to pipeline behind the current one."""
        while not self._jobs.empty():
            then = self._jobs.get_nowait()
            if then is None:  # close() is waiting: stop after the current message
                self._jobs.put_nowait(None)
                return None
            if not _expired(then):
                return then
        return None

    async def _deliver(
        self, session: Session | None, job: _Job
    ) -> tuple[Session | None, _Job | None]:
        """Send ``job`` and settle its future; returns the session to keep and the next message
        when its envelope already went out behind this one."""
        started = time.perf_counter()
        then = None
        try:
            if session is None or not session.is_connected:
                if session is not None:
                    session.close()
                session = await self._connect()
            then = self._follower() if session.pipelining else None
            ahead = None if then is None else then.commands
            reply = await session.send(job.commands, job.data, ahead)
            result = _classify(reply.code, reply.message)
            if reply.code == 421:  # the relay is closing this session
                await session.quit()
        except RelaySetupError as exc:
            session = None
            result = SmtpResult("temporary", exc.code, f"{exc.code} {exc.message}".strip())
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if session is not None:
                session.close()
            session = None
            result = SmtpResult("temporary", None, f"connection: {type(exc).__name__}: {exc}")
        except BaseException as exc:
            _abort(then, exc)
            raise
        self._seconds.observe(time.perf_counter() - started)
        replies = self._replies.get(result.code)
        if replies is None:  # a labelled child per code, looked up once (a per-message cost)
            replies = metrics.SMTP_REPLIES.labels(self.relay.name, str(result.code or "none"))
            self._replies[result.code] = replies
        replies.inc()
        if not job.done.done():  # not cancelled meanwhile
            job.done.set_result(result)
        return session, then

    async def close(self) -> None:
        """QUIT every session once the messages queued so far are delivered."""
        runners = list(self._runners)
        for _ in runners:
            self._jobs.put_nowait(None)
        await asyncio.gather(*runners, return_exceptions=True)


def _expired(job: _Job) -> bool:
    """Settle a job whose deadline passed (or that nobody waits for) without sending it."""
    if job.done.done():
        return True  # cancelled meanwhile: nobody would read the reply
    if time.monotonic() <= job.deadline:
        return False
    job.done.set_result(EXPIRED)
    return True


def _abort(job: _Job | None, exc: BaseException) -> None:
    if job is None or job.done.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        job.done.cancel()
    else:
        job.done.set_exception(exc)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await asyncio.wait_for(client.quit(), 2)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()


class Relays:
    """Every configured relay of a process: by name for senders that pin one, else in turn."""

    def __init__(
        self,
        urls: Sequence[str],
        size: int,
        timeout: float,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if not urls:
            raise ValueError("TART_SMTP_RELAYS is empty")
        self.pools = [RelayPool(parse_relay(u), size, timeout, tls_context) for u in urls]
        self.by_name = {p.relay.name: p for p in self.pools}
        self._turn = itertools.cycle(self.pools)

    def for_sender(self, relay_name: str | None) -> RelayPool:
        if relay_name:
            pool = self.by_name.get(relay_name)
            if pool is not None:
                return pool
            log.warning("unknown relay, using round robin", relay=relay_name)
        return next(self._turn)

    async def close(self) -> None:
        for pool in self.pools:
            await pool.close()
