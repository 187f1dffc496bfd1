"""Fault-injection harness: a 20,000-recipient campaign sent by real subprocess sender workers
(tests/sender's WorkerProcess and scheduler tick, reused) to an aiosmtpd relay that can be
stopped, restarted on the same port, or made to refuse a share of its sessions with 421.
PostgreSQL and RabbitMQ are cut through tests.fixtures.proxy.TcpProxy, never restarted: the
machine's servers are shared with other runs."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller

from tests.fixtures.ports import free_port
from tests.fixtures.smtp import offer_pipelining
from tests.sender.conftest import (  # noqa: F401 - reused fixtures and helpers
    WorkerProcess,
    make_email,
    make_sender,
    scheduler_ticks,
    session_worker_stopped,
    worker_env,
)
from tests.sender.test_campaign import VARIATIONS, queue

RECIPIENTS = 20_000
THREADS, BATCH, POOL = 4, 100, 4
# batch.py: a killed worker process sends again what the relay had accepted and the database did
# not yet say: one message per SMTP connection, plus the replies its recorder had not yet written
# (a write every 10 ms, at most 64 rows: at the ~1,200 messages a second a process sends here,
# about 12, and a slow write under load adds a few more). Before the recorder it was every
# accepted message of the batches in flight, up to THREADS x BATCH = 400.
DUPLICATE_BOUND = POOL + 40


@pytest.fixture(autouse=True)
def _own_workers_only() -> Iterator[None]:
    """Each fault test runs its own workers against its own relay, whatever ran before it."""
    with session_worker_stopped():
        yield


class RelayHandler:
    """Counts what it accepts per recipient; can answer 421 to every third session."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.refuse_every: int | None = None
        self.sessions = itertools.count()
        self.refused_sessions = 0
        self._decided: dict[int, bool] = {}

    handle_EHLO = offer_pipelining

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        key = id(session)
        if key not in self._decided:
            n = next(self.sessions)
            refuse = self.refuse_every is not None and n % self.refuse_every == 0
            self._decided[key] = refuse
            if refuse:
                self.refused_sessions += 1
        if self._decided[key]:
            return "421 4.3.2 too busy, try later"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.counts[rcpt.lower()] += 1
        return "250 2.0.0 OK"

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.counts)

    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())


@dataclass
class Relay:
    handler: RelayHandler = field(default_factory=RelayHandler)
    port: int = field(default_factory=free_port)
    controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@dataclass
class Campaign:
    email_id: int
    sender_id: int
    addresses: set[str]
    started: float


async def start_campaign(pool: Any, sync_conn: psycopg.Connection[Any]) -> Campaign:
    """A sender, an email and RECIPIENTS subscribers (one INSERT ... SELECT), queued."""
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[1:])
    rows = sync_conn.execute(
        "INSERT INTO subscribers (sender_id, address)"
        " SELECT %s, 'r' || g || '-' || %s || '@example.org' FROM generate_series(1, %s) g"
        " RETURNING lower(address::text) AS a",
        (sender["id"], sender["id"], RECIPIENTS),
    ).fetchall()
    await queue(
        pool, sender_id=sender["id"], email_id=email_id, locales=None, contains=None,
        filter=None, max_count=None, scheduled_at=None, ab=None,
    )  # fmt: skip
    return Campaign(email_id, sender["id"], {r["a"] for r in rows}, time.monotonic())


def email_state(sync_conn: psycopg.Connection[Any], email_id: int) -> str:
    row = sync_conn.execute("SELECT state::text AS s FROM emails WHERE id = %s", (email_id,))
    return str(row.fetchone()["s"])


def send_states(sync_conn: psycopg.Connection[Any], email_id: int) -> dict[str, int]:
    rows = sync_conn.execute(
        "SELECT state::text AS s, count(*) AS n FROM sends WHERE email_id = %s GROUP BY 1",
        (email_id,),
    ).fetchall()
    return {r["s"]: r["n"] for r in rows}


async def wait_for(check: Any, timeout: float, what: str) -> float:
    """Poll ``check()`` until true; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s")


@dataclass
class Outcome:
    """What one fault run measured, printed for docs/reliability.md."""

    fault: str
    delivered: int
    duplicates: int
    seconds: float
    recovery: float | None = None

    def line(self) -> str:
        rec = (
            ""
            if self.recovery is None
            else f", finished {self.recovery:.1f}s after the fault ended"
        )
        return (
            f"FAULT {self.fault}: {self.delivered} recipients, {self.duplicates} duplicates, "
            f"{self.seconds:.1f}s{rec}"
        )


def check_campaign(
    sync_conn: psycopg.Connection[Any], c: Campaign, relay: Relay, fault: str, bound: int
) -> Outcome:
    """The issue's three promises after a fault."""
    counts = relay.handler.snapshot()
    mine = {a: n for a, n in counts.items() if a in c.addresses}
    missing = c.addresses - set(mine)
    assert not missing, f"{len(missing)} recipients got nothing, e.g. {sorted(missing)[:3]}"
    duplicates = sum(mine.values()) - len(mine)
    assert duplicates <= bound, f"{duplicates} duplicates, bound {bound}"
    states = send_states(sync_conn, c.email_id)
    assert states == {"sent": RECIPIENTS}, f"send states {states}: nothing may stay 'sending'"
    outcome = Outcome(fault, len(mine), duplicates, time.monotonic() - c.started)
    return outcome
