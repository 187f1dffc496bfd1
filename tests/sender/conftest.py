"""Fixtures for the sender: senders with DKIM keys, emails, subscribers, a subprocess dramatiq
worker on this run's vhost, a slow SMTP peer, and the scheduler's tick running in the test."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dkim
import psycopg
import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from psycopg.types.json import Jsonb

from services.sender.dkim import public_txt_record
from tests.fixtures.ports import free_port
from tests.fixtures.smtp import Received, SmtpPeer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    return _pem(rsa.generate_private_key(65537, 2048))


@pytest.fixture(scope="session")
def ed25519_pem() -> str:
    return _pem(ed25519.Ed25519PrivateKey.generate())


def dkim_dns(pem: str) -> Callable[..., bytes]:
    txt = public_txt_record(pem).encode()
    return lambda name, timeout=5: txt


def verified_selectors(message: bytes, records: dict[str, str]) -> list[str]:
    """The selectors of the message's DKIM signatures that dkimpy verifies, each against the
    TXT record published for its selector (``records``: dns name -> TXT value), in order."""
    signatures = [
        line for line in message.split(b"\r\n") if line.lower().startswith(b"dkim-signature:")
    ]
    dns = {f"{name}.".encode(): value.encode() for name, value in records.items()}

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return dns.get(name, b"")

    verified = []
    for idx in range(len(signatures)):
        checker = dkim.DKIM(message)
        if checker.verify(idx=idx, dnsfunc=lookup):
            verified.append(checker.selector.decode())
    return verified


def make_sender(
    conn: psycopg.Connection[Any],
    *,
    pem: str | None = None,
    algorithm: str = "rsa-sha256",
    rate_per_second: int | None = None,
    name: str = "Tart News",
) -> dict[str, Any]:
    """A sender; with ``pem``, signing with it (an active DKIM key, selector sel1)."""
    tag = uuid.uuid4().hex[:10]
    row = conn.execute(
        """INSERT INTO senders (address, name, public_base_url, return_path_domain, reply_to,
                                rate_per_second)
           VALUES (%s, %s, 'https://links.example.com', %s, %s, %s) RETURNING *""",
        (f"news-{tag}@example.com", name, f"bounce-{tag}.example.com", "help@example.com",
         rate_per_second),
    ).fetchone()  # fmt: skip
    assert row is not None
    if pem:
        add_dkim_key(conn, row["id"], pem, algorithm)
    return dict(row)


def add_dkim_key(
    conn: psycopg.Connection[Any],
    sender_id: int,
    pem: str,
    algorithm: str,
    selector: str = "sel1",
    state: str = "active",
) -> int:
    row = conn.execute(
        "INSERT INTO sender_dkim_keys (sender_id, selector, algorithm, private_key, state)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (sender_id, selector, algorithm, pem, state),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def make_email(
    conn: psycopg.Connection[Any],
    sender_id: int,
    variations: list[dict[str, Any]],
    *,
    bulk: bool = True,
    track_clicks: bool = True,
    locales: list[str] | None = None,
) -> tuple[int, list[int]]:
    email = conn.execute(
        "INSERT INTO emails (sender_id, name, bulk, track_clicks, locales)"
        " VALUES (%s, 'test email', %s, %s, %s) RETURNING id",
        (sender_id, bulk, track_clicks, locales or []),
    ).fetchone()
    assert email is not None
    ids = []
    for v in variations:
        row = conn.execute(
            "INSERT INTO variations (email_id, name, subject, plain_body, html_body, weight)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (
                email["id"],
                v.get("name", ""),
                v["subject"],
                v.get("plain_body"),
                v.get("html_body"),
                v.get("weight", 1),
            ),
        ).fetchone()
        assert row is not None
        ids.append(row["id"])
    return email["id"], ids


def make_subscribers(
    conn: psycopg.Connection[Any],
    sender_id: int,
    n: int,
    *,
    locale: str = "C",
    properties: Callable[[int], dict[str, Any]] | None = None,
    domain: str = "example.org",
) -> list[int]:
    tag = uuid.uuid4().hex[:8]
    rows = [
        (sender_id, f"r{i}-{tag}@{domain}", locale, Jsonb(properties(i) if properties else {}))
        for i in range(n)
    ]
    ids: list[int] = []
    with conn.cursor() as cur:
        for chunk in range(0, n, 1000):
            cur.executemany(
                "INSERT INTO subscribers (sender_id, address, locale, properties)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                rows[chunk : chunk + 1000],
                returning=True,
            )
            while True:
                row = cur.fetchone()
                if row is not None:
                    ids.append(row["id"])
                if not cur.nextset():
                    break
    return ids


def wait_until(check: Callable[[], bool], timeout: float = 30.0, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


async def await_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


@dataclass
class WorkerProcess:
    """``python -m dramatiq services.sender.actors`` in its own process group."""

    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log_path: str = field(
        default_factory=lambda: tempfile.mktemp(prefix="tart-sender-", suffix=".log")
    )

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "services.sender.actors", "--processes", "1",
             "--threads", self.env.get("THREADS", "4"), "--queues", "campaign", "send"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(Exception):
            self.log.close()

    def output(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]


def worker_env(relay_url: str, **overrides: str) -> dict[str, str]:
    prom = tempfile.mkdtemp(prefix="tart-prom-")
    env = dict(os.environ)
    env.update(
        {
            "TART_SMTP_RELAYS": relay_url,
            "TART_SEND_RETRY_MIN_SECONDS": "0.3",
            "TART_SEND_RETRY_MAX_SECONDS": "2",
            "TART_SEND_LEASE_SECONDS": "30",
            "TART_SEND_BATCH_SIZE": "50",
            "TART_SMTP_POOL_SIZE": "4",
            "TART_SMTP_TIMEOUT_SECONDS": "5",
            "TART_LOG_LEVEL": "warning",
            "dramatiq_prom_db": prom,
            "dramatiq_prom_port": str(free_port()),
            "dramatiq_prom_host": "127.0.0.1",
            "PROMETHEUS_MULTIPROC_DIR": prom,
            "PYTHONPATH": ROOT,
        }
    )
    env.update(overrides)
    return env


SESSION_WORKERS: list[WorkerProcess] = []  # the session worker, once a test has started it


@pytest.fixture(scope="session")
def sender_worker(smtp_peer_session: SmtpPeer) -> Iterator[WorkerProcess]:
    """One worker for the end-to-end tests, sending to the aiosmtpd peer."""
    worker = WorkerProcess(worker_env(smtp_peer_session.url))
    worker.start()
    SESSION_WORKERS.append(worker)
    yield worker
    SESSION_WORKERS.remove(worker)
    worker.stop()


@contextlib.contextmanager
def session_worker_stopped() -> Iterator[None]:
    """The session worker consumes the same queues as a fault test's own workers and would
    take its messages to another peer: stop it for the test (if it runs) and start it again."""
    for worker in SESSION_WORKERS:
        worker.stop()
    try:
        yield
    finally:
        for worker in SESSION_WORKERS:
            worker.start()


@pytest.fixture
async def scheduler_ticks(pool: Any, settings: Any) -> AsyncIterator[None]:
    """The scheduler's duties, run every 0.2 s in the test's loop (finish campaigns, leases,
    A/B winners)."""
    from services.sender import scheduler

    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                await scheduler.tick(pool, settings)
            except Exception:  # as scheduler.run does: keep ticking through an outage
                logging.getLogger(__name__).exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    task = asyncio.create_task(loop())
    yield
    stop.set()
    await task


class _SlowHandler:
    """Accepts everything, slowly: a batch stays in flight long enough to kill its worker."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received: list[Received] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 2.0.0 OK"


@dataclass
class SlowPeer:
    handler: _SlowHandler
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)


@pytest.fixture
def slow_peer() -> Iterator[SlowPeer]:
    handler = _SlowHandler(0.01)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield SlowPeer(handler, port)
    controller.stop()


@pytest.fixture
def only_this_test_workers() -> Iterator[None]:
    """Fault tests run their own workers against their own peer."""
    with session_worker_stopped():
        yield
