"""Fault tests: a worker SIGKILLed mid-batch, and the broker connection cut mid-campaign
(through tests.fixtures.proxy, so the machine's shared RabbitMQ keeps running)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fixtures.proxy import TcpProxy
from tests.sender.conftest import (
    SlowPeer,
    WorkerProcess,
    await_until,
    make_email,
    make_sender,
    make_subscribers,
    worker_env,
)
from tests.sender.test_campaign import VARIATIONS, queue

pytestmark = pytest.mark.slow

RECIPIENTS = 400
THREADS, BATCH = 2, 50
DUPLICATE_BOUND = THREADS * BATCH  # rows in flight in one killed worker process (batch.py)


def email_state(sync_conn: Any, email_id: int) -> str:
    row = sync_conn.execute("SELECT state::text FROM emails WHERE id = %s", (email_id,)).fetchone()
    return str(row["state"])


async def _campaign(pool: Any, sync_conn: Any) -> tuple[int, set[str]]:
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[1:])
    make_subscribers(sync_conn, sender["id"], RECIPIENTS)
    addresses = {
        r["address"]
        for r in sync_conn.execute(
            "SELECT address::text FROM subscribers WHERE sender_id = %s", (sender["id"],)
        ).fetchall()
    }
    await queue(
        pool, sender_id=sender["id"], email_id=email_id, locales=None, contains=None,
        filter=None, max_count=None, scheduled_at=None, ab=None,
    )  # fmt: skip
    return email_id, addresses


async def test_worker_killed_mid_batch(
    pool: Any,
    sync_conn: Any,
    slow_peer: SlowPeer,
    scheduler_ticks: None,
    only_this_test_workers: None,
) -> None:
    env = worker_env(
        slow_peer.url, THREADS=str(THREADS), TART_SEND_BATCH_SIZE=str(BATCH),
        TART_SEND_LEASE_SECONDS="3", TART_SMTP_POOL_SIZE="2",
    )  # fmt: skip
    first = WorkerProcess(env)
    first.start()
    second = WorkerProcess(env)
    try:
        email_id, addresses = await _campaign(pool, sync_conn)
        await await_until(lambda: len(slow_peer.received) >= 100, timeout=60)
        first.kill()
        killed_at = len(slow_peer.received)
        assert killed_at < RECIPIENTS, "the kill must land mid-campaign"
        leased = sync_conn.execute(
            "SELECT count(*) AS n FROM sends WHERE email_id = %s AND state = 'sending'",
            (email_id,),
        ).fetchone()["n"]
        assert 0 < leased <= DUPLICATE_BOUND
        second.start()
        await await_until(lambda: email_state(sync_conn, email_id) == "sent", timeout=90)
    finally:
        first.stop()
        second.stop()
    counts = Counter(r.rcpt_tos[0] for r in slow_peer.received)
    assert set(counts) == addresses, "every recipient got the message"
    duplicates = sum(counts.values()) - len(counts)
    assert duplicates <= DUPLICATE_BOUND
    states = sync_conn.execute(
        "SELECT state::text, count(*) AS n FROM sends WHERE email_id = %s GROUP BY 1", (email_id,)
    ).fetchall()
    assert [(r["state"], r["n"]) for r in states] == [("sent", RECIPIENTS)]


async def test_broker_connection_cut_mid_campaign(
    pool: Any,
    settings: Any,
    sync_conn: Any,
    slow_peer: SlowPeer,
    scheduler_ticks: None,
    only_this_test_workers: None,
) -> None:
    proxy = TcpProxy(5672)
    proxy.start()
    amqp = urlsplit(settings.amqp_url)
    via_proxy = f"amqp://guest:guest@127.0.0.1:{proxy.port}{amqp.path}"
    worker = WorkerProcess(
        worker_env(slow_peer.url, TART_AMQP_URL=via_proxy, THREADS=str(THREADS),
                   TART_SEND_BATCH_SIZE=str(BATCH), TART_SEND_LEASE_SECONDS="5",
                   TART_SMTP_POOL_SIZE="2")
    )  # fmt: skip
    worker.start()
    try:
        email_id, addresses = await _campaign(pool, sync_conn)
        await await_until(lambda: len(slow_peer.received) >= 100, timeout=60)
        proxy.cut()
        await asyncio.sleep(2)
        assert email_state(sync_conn, email_id) == "sending"
        proxy.start()
        await await_until(lambda: email_state(sync_conn, email_id) == "sent", timeout=90)
    finally:
        worker.stop()
        proxy.cut()
    counts = Counter(r.rcpt_tos[0] for r in slow_peer.received)
    assert set(counts) == addresses
    assert sum(counts.values()) - len(counts) <= DUPLICATE_BOUND
