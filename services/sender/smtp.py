"""SMTP relays and pools of reused sessions: aiosmtplib's handshake, then our pipelining
(services/sender/session.py), and failover between relays.

Relays are configured and named in TART_SMTP_RELAYS (shared/senders/relays.py). Each worker
process keeps up to ``smtp_pool_size`` open connections per relay and reuses them across batches.

Failover. A relay that cannot be reached (the connection is refused or times out, or it greets
with an error) is marked down for ``TART_SMTP_RELAY_COOLDOWN_SECONDS``. Messages of senders
without a pinned relay skip it while another relay is up, and the messages queued for it move
to the next relay. A sender pinned to a relay (senders.relay) stays on it, because a pin is a
promise (the sender's dedicated IP, its credentials at that relay): while it is down, its messages
fail at once as temporary failures, without a connection attempt, and are tried again on the
retry schedule (services/sender/batch.py). After the cool-down the next message tries again.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import math
import re
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiosmtplib

from services.sender import metrics
from services.sender.session import Envelope, Session, envelope
from shared.config import get_settings
from shared.logging import get_logger
from shared.senders.relays import Relay, parse_relay
from shared.tls import client_context

log = get_logger(__name__)

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# "expired": never written to the relay, because the claim's lease was running out (batch.py).
Kind = Literal["sent", "temporary", "permanent", "expired"]


@dataclass(frozen=True)
class SmtpResult:
    """What the relay said about one message."""

    kind: Kind
    code: int | None
    reply: str
    # The relay answered RCPT, DATA or the content: the reply is about this recipient, so one
    # that ends the send is a bounce. Not for a refused MAIL FROM, login or connection.
    about_recipient: bool = False

    @property
    def enhanced_status(self) -> str | None:
        match = _ENHANCED.search(self.reply)
        return ".".join(match.groups()) if match else None


def _classify(code: int, message: str, stage: str = "content") -> SmtpResult:
    """A refusal of MAIL FROM is about our sender (a From the relay does not let us use, a
    return-path domain it does not know), not about this recipient: like a refused relay login
    it is temporary, retried on the schedule and never a bounce, so a relay's setup cannot stop
    every subscriber it refuses."""
    text = f"{code} {message}".strip()
    if 200 <= code < 300:
        return SmtpResult("sent", code, text)
    about_recipient = stage != "mail"
    permanent = code >= 500 and about_recipient
    return SmtpResult("permanent" if permanent else "temporary", code, text, about_recipient)


# A relay's queue id: token characters only, bounded (an id, never a sentence or an address
# with spaces); "queued as" names it, otherwise the last word counts only if it has a digit, so
# "250 OK", "250 Ok: queued" and "250 Message accepted" name none.
_RELAY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{3,127}")
_QUEUED_AS = re.compile(r"\bqueued as\s+<?([^\s<>]+)>?\s*$", re.IGNORECASE)
_STATUS_ONLY = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")


def relay_queue_id(reply: str) -> str | None:
    """The id a relay gives an accepted message in its 250 reply, the one its events carry:
    "250 Ok 0100018c...-000000" (Amazon SES, its messageId), "250 Ok: queued as <id>" (SendGrid,
    Postfix, Postmark), "250 OK id=1abc-0000Ab-00" (Exim). None when the reply names no id."""
    match = _QUEUED_AS.search(reply)
    if match:
        word = match.group(1)
    else:
        words = reply.split()
        if len(words) < 2:  # the code alone
            return None
        word = words[-1].strip("<>")
        if word.lower().startswith("id="):
            word = word[3:]
        if not any(c.isdigit() for c in word) or _STATUS_ONLY.fullmatch(word):
            return None
    return word if _RELAY_ID.fullmatch(word) else None


class RelaySetupError(Exception):
    """The relay refused the session itself (EHLO, STARTTLS or AUTH), not this recipient.

    Always a temporary result: a wrong relay password must not bounce every recipient.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class RelayDown(Exception):
    """The relay could not be reached: connection refused or timed out, or an error greeting."""


EXPIRED = SmtpResult("expired", None, "not sent: the claim's lease was running out")


@dataclass
class _Job:
    commands: Envelope
    data: bytes
    done: asyncio.Future[SmtpResult]
    deadline: float  # time.monotonic() after which the message must not be started
    pinned: bool = False  # the sender is pinned to this relay: never moved to another
    urgent: bool = False  # transactional: taken before bulk messages queued earlier


# The order a pool's sessions take queued work in: a transactional message before every bulk
# message (a campaign's batches queue thousands at once, and the priority lane would otherwise
# wait behind them for a session), and close()'s stop signal after both.
_URGENT, _BULK, _STOP = 0, 1, 2


class RelayPool:
    """Up to ``size`` sessions with one relay, each kept by a task that takes queued messages in
    turn and writes the next one's envelope behind the current content (session.py).

    ``tls_context`` verifies the relay for smtps:// and smtp+starttls:// (default: the one
    built from TART_TLS_CA_FILE / TART_TLS_VERIFY). ``cooldown``: seconds a relay found down is
    skipped. ``reroute``, set by ``Relays``: offered each message this pool cannot deliver
    because the relay is down; True when another relay took it.
    """

    def __init__(
        self,
        relay: Relay,
        size: int,
        timeout: float,
        tls_context: ssl.SSLContext | None = None,
        cooldown: float = 60.0,
    ) -> None:
        self.relay = relay
        self.size = size
        self.timeout = timeout
        self.tls_context = tls_context or client_context(get_settings())
        self.cooldown = cooldown
        self.down_until = 0.0  # time.monotonic() until which the relay counts as down
        self.down_reason = ""
        self.reroute: Callable[[_Job], bool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs: asyncio.PriorityQueue[tuple[int, int, _Job | None]] = asyncio.PriorityQueue()
        self._order = itertools.count()  # first in, first out within a rank
        self._runners: set[asyncio.Task[None]] = set()
        self._waiting = 0  # runners waiting for a message
        self._seconds = metrics.SMTP_SECONDS.labels(relay.name)
        self._replies: dict[int | None, Any] = {}  # a labelled child per code, looked up once
        self._unreported: collections.Counter[int | None] = collections.Counter()
        self._unreported_total = 0

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
        except aiosmtplib.SMTPConnectError as exc:  # refused, timed out, or an error greeting
            client.close()
            raise RelayDown(f"{type(exc).__name__}: {exc}") from exc
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
        self,
        mail_from: str,
        rcpt: str,
        data: bytes,
        deadline: float = math.inf,
        pinned: bool = False,
        urgent: bool = False,
    ) -> asyncio.Future[SmtpResult]:
        """Queue one message; its future gets the relay's answer (never an exception for SMTP
        or connection trouble). A message still queued at ``deadline`` (``time.monotonic()``) is
        not started: its result is ``expired``. While the relay is down the message moves to
        another relay, unless ``pinned``. An ``urgent`` message is taken before the non-urgent
        ones already queued. Raises ValueError for an unsafe address."""
        commands = envelope(mail_from, rcpt)
        loop = asyncio.get_running_loop()
        job = _Job(commands, data, loop.create_future(), deadline, pinned, urgent)
        if self.is_down:
            self._unavailable(job)
        else:
            self.take(job)
        return job.done

    def take(self, job: _Job) -> None:
        """Queue a message (new, or moved here from a relay that is down)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a queue and tasks belong to one event loop
            self._loop, self._runners, self._waiting = loop, set(), 0
            self._jobs = asyncio.PriorityQueue()
        self._put(job)
        if self._waiting == 0 and len(self._runners) < self.size:
            runner = loop.create_task(self._run())
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)

    def _put(self, job: _Job | None) -> None:
        rank = _STOP if job is None else _URGENT if job.urgent else _BULK
        self._jobs.put_nowait((rank, next(self._order), job))

    @property
    def is_down(self) -> bool:
        return time.monotonic() < self.down_until

    def _mark_down(self, reason: str) -> None:
        if not self.is_down:
            log.warning("relay unreachable; skipped during its cool-down", relay=self.relay.name,
                        reason=reason, cooldown_seconds=self.cooldown)  # fmt: skip
            metrics.RELAY_DOWN.labels(self.relay.name).inc()
        self.down_until = time.monotonic() + self.cooldown
        self.down_reason = reason

    def _unavailable(self, job: _Job) -> None:
        """A message this relay cannot take now: to another relay, else a temporary failure."""
        if job.done.done() or (not job.pinned and self.reroute is not None and self.reroute(job)):
            return
        reply = f"connection: relay {self.relay.name} unreachable ({self.down_reason})"
        job.done.set_result(SmtpResult("temporary", None, reply))

    async def _run(self) -> None:
        """One session's life: deliver messages from the queue until close() sends None."""
        session: Session | None = None
        job: _Job | None = None
        try:
            while True:
                if job is None:
                    if self._unreported_total and self._jobs.empty():
                        self._report()  # going idle: the metric is current between bursts
                    self._waiting += 1
                    try:
                        _, _, job = await self._jobs.get()
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
            _, _, then = self._jobs.get_nowait()
            if then is None:  # close() is waiting: stop after the current message
                self._put(None)
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
                session = None
                if self.is_down:  # found down by another session meanwhile
                    self._unavailable(job)
                    return None, None
                try:
                    session = await self._connect()
                except RelayDown as exc:
                    self._mark_down(str(exc))
                    self._unavailable(job)
                    return None, None
            then = self._follower() if session.pipelining else None
            ahead = None if then is None else then.commands
            reply = await session.send(job.commands, job.data, ahead)
            result = _classify(reply.code, reply.message, reply.stage)
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
        # Reply codes are counted here and added to the metric in bulk (_report): an increment
        # of a multiprocess metric costs a few microseconds, a per-message cost otherwise.
        self._unreported[result.code] += 1
        self._unreported_total += 1
        if self._unreported_total >= 100:
            self._report()
        if not job.done.done():  # not cancelled meanwhile
            job.done.set_result(result)
        return session, then

    def _report(self) -> None:
        """Add the reply codes counted since the last report to tart_smtp_replies_total."""
        for code, n in self._unreported.items():
            replies = self._replies.get(code)
            if replies is None:
                replies = metrics.SMTP_REPLIES.labels(self.relay.name, str(code or "none"))
                self._replies[code] = replies
            replies.inc(n)
        self._unreported.clear()
        self._unreported_total = 0

    async def close(self) -> None:
        """QUIT every session once the messages queued so far are delivered."""
        runners = list(self._runners)
        for _ in runners:
            self._put(None)
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
    """Every configured relay of a process: the pinned one for senders that have one, else each
    in turn, skipping relays that are down (see the module docstring)."""

    def __init__(
        self,
        urls: Sequence[str],
        size: int,
        timeout: float,
        tls_context: ssl.SSLContext | None = None,
        cooldown: float = 60.0,
    ) -> None:
        if not urls:
            raise ValueError("TART_SMTP_RELAYS is empty")
        self.pools = [RelayPool(parse_relay(u), size, timeout, tls_context, cooldown) for u in urls]
        for pool in self.pools:
            pool.reroute = functools.partial(self._reroute, pool)
        self.by_name = {p.relay.name: p for p in self.pools}
        self._turn = itertools.cycle(self.pools)
        self._unknown: set[str] = set()

    def submit(
        self,
        relay_name: str | None,
        mail_from: str,
        rcpt: str,
        data: bytes,
        deadline: float = math.inf,
        urgent: bool = False,
    ) -> asyncio.Future[SmtpResult]:
        """Queue one message for a sender pinned to ``relay_name`` (None: any relay in turn);
        ``urgent`` (transactional) goes before the bulk messages queued for the same relay."""
        pinned = self.by_name.get(relay_name) if relay_name else None
        if relay_name and pinned is None and relay_name not in self._unknown:
            # Checked when the pin is saved; a relay renamed in the settings since lands here.
            self._unknown.add(relay_name)
            log.warning("unknown relay, using every relay in turn", relay=relay_name)
        if pinned is not None:
            return pinned.submit(mail_from, rcpt, data, deadline, pinned=True, urgent=urgent)
        return self._next_up().submit(mail_from, rcpt, data, deadline, urgent=urgent)

    async def send(
        self, relay_name: str | None, mail_from: str, rcpt: str, data: bytes
    ) -> SmtpResult:
        """Send one message and wait for the relay's answer (a test send)."""
        return await self.submit(relay_name, mail_from, rcpt, data)

    def _next_up(self, other_than: RelayPool | None = None) -> RelayPool:
        """The next relay in turn that is up; when none is, the one whose cool-down ends first
        (its messages then fail at once and are retried)."""
        for _ in range(len(self.pools)):
            pool = next(self._turn)
            if not pool.is_down and pool is not other_than:
                return pool
        return min(self.pools, key=lambda p: p.down_until)

    def _reroute(self, down: RelayPool, job: _Job) -> bool:
        pool = self._next_up(other_than=down)
        if pool is down or pool.is_down:
            return False
        pool.take(job)
        return True

    async def close(self) -> None:
        for pool in self.pools:
            await pool.close()
