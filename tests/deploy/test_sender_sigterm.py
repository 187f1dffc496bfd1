"""SIGTERM on the real sender worker (``python -m services.sender worker``) in the middle of a
campaign, as Kubernetes sends it on a rollout or a scale-down: the batches in flight finish
within the drain, the ones not started go back to RabbitMQ, no row is left 'sending' (which would
wait for its lease), and the next worker sends every remaining recipient exactly once.

The worker runs on a vhost of its own, so no other test's sender worker takes these messages."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika
import pytest
from aiosmtpd.controller import Controller

from shared.broker import build_broker
from shared.campaigns import service
from shared.db import transaction
from shared.jobs import to_message
from tests.fixtures.ports import free_port
from tests.sender.conftest import make_email, make_sender, make_subscribers

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 60
DRAIN_SECONDS = 20


@dataclass
class SlowSink:
    """Accepts every message after ``delay`` seconds, so batches stay in flight a while."""

    delay: float
    recipients: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        with self.lock:
            self.recipients.extend(envelope.rcpt_tos)
        return "250 2.0.0 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.recipients)


@pytest.fixture
def sink() -> Iterator[tuple[SlowSink, str]]:
    handler = SlowSink(delay=0.1)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, f"smtp://127.0.0.1:{port}"
    controller.stop()


def _start_worker(amqp_url: str, relay: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TART_AMQP_URL": amqp_url,
        "TART_SMTP_RELAYS": relay,
        "TART_SENDER_METRICS_PORT": str(free_port()),
        "TART_WORKER_THREADS": "2",
        "TART_WORKER_SHUTDOWN_SECONDS": str(DRAIN_SECONDS),
        "TART_SEND_BATCH_SIZE": "10",
        "TART_SMTP_POOL_SIZE": "2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.sender", "worker"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _ready(amqp_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        declared = connection.channel().queue_declare(queue, durable=True, passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def _states(sync_conn: Any, email_id: int) -> Counter[str]:
    rows = sync_conn.execute(
        "SELECT state::text AS state, count(*) AS n FROM sends WHERE email_id = %s GROUP BY 1",
        (email_id,),
    ).fetchall()
    return Counter({r["state"]: r["n"] for r in rows})


async def test_sigterm_mid_campaign_drains_requeues_and_loses_nothing(
    pool: Any, sync_conn: Any, sink: tuple[SlowSink, str], own_vhost: str, tmp_path: Path
) -> None:
    peer, relay = sink
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], [{"subject": "Hi", "plain_body": "Hi\n"}])
    make_subscribers(sync_conn, sender["id"], RECIPIENTS)
    publisher = build_broker(own_vhost)
    log = tmp_path / "sender.log"
    first = _start_worker(own_vhost, relay, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        async with transaction(pool) as tx:  # its jobs go to the worker's own vhost, below
            _, messages = await service.queue_bulk_send(
                tx.conn, sender_id=sender["id"], email_id=email_id, locales=None,
                contains=None, filter=None, max_count=None, scheduled_at=None, ab=None,
            )  # fmt: skip
        for m in messages:
            publisher.enqueue(to_message(m))
        deadline = time.monotonic() + 60
        while peer.count() == 0:  # a batch is in flight
            assert first.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.05)

        started = time.monotonic()
        first.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(first.wait, DRAIN_SECONDS + 10)
        elapsed = time.monotonic() - started

        assert code == 0, log.read_text()[-3000:]
        assert elapsed < DRAIN_SECONDS, f"drain took {elapsed:.1f}s"
        states = _states(sync_conn, email_id)
        assert states["sending"] == 0, f"rows left claimed, waiting for their lease: {states}"
        assert states["sent"] == peer.count() > 0
        assert states["sent"] + states["queued"] == RECIPIENTS
        # SIGTERM came with the first delivery, so batches were left: their messages are back.
        assert states["queued"] > 0, states
        assert _ready(own_vhost, "send") > 0, "queued rows but no send.batch left to send them"

        second = _start_worker(own_vhost, relay, log)
        deadline = time.monotonic() + 60
        while _states(sync_conn, email_id)["sent"] < RECIPIENTS:
            assert second.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, _states(sync_conn, email_id)
            await asyncio.sleep(0.1)
        with peer.lock:
            received = Counter(peer.recipients)
        assert len(received) == RECIPIENTS and set(received.values()) == {1}, received
    finally:
        _stop(first)
        if second is not None:
            second.send_signal(signal.SIGTERM)
            await asyncio.to_thread(second.wait, DRAIN_SECONDS + 10)
            _stop(second)
        publisher.close()
