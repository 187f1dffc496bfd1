"""Fault tests: a worker SIGKILLed mid-batch (twice), and the broker connection cut mid-campaign
(through tests.fixtures.proxy, so the machine's shared RabbitMQ keeps running)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller

from tests.fixtures.ports import free_port
from tests.fixtures.proxy import TcpProxy
from tests.sender.conftest import (
    SlowPeer,
    WorkerProcess,
    _SlowHandler,
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
DUPLICATE_BOUND = THREADS * BATCH  # rows claimed by one worker process: the broker test's bound


def email_state(sync_conn: Any, email_id: int) -> str:
    row = sync_conn.execute("SELECT state::text FROM emails WHERE id = %s", (email_id,)).fetchone()
    return str(row["state"])


async def _campaign(
    pool: Any, sync_conn: Any, recipients: int = RECIPIENTS
) -> tuple[int, set[str]]:
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[1:])
    make_subscribers(sync_conn, sender["id"], recipients)
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


@pytest.fixture
def slower_peer() -> Iterator[SlowPeer]:
    """Answers each message after 50 ms: a batch stays in flight long enough to kill its worker,
    and each connection has at most one accepted message the recorder has not yet written."""
    handler = _SlowHandler(0.05)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield SlowPeer(handler, port)
    controller.stop()


KILL_THREADS, KILL_BATCH, KILL_POOL, KILL_RECIPIENTS = 4, 50, 4, 600
# batch.py's bound for one killed process: the message on the wire per SMTP connection, plus
# those accepted but not yet written by the recorder (a write every 10 ms; at 50 ms a reply,
# at most one more per connection). Recording at the end of each batch, it was every accepted
# message of the batches in flight: up to KILL_THREADS x KILL_BATCH = 200.
PER_KILL_BOUND = 2 * KILL_POOL


async def test_worker_killed_mid_batch_resends_only_what_was_on_the_wire(
    pool: Any,
    sync_conn: Any,
    slower_peer: SlowPeer,
    scheduler_ticks: None,
    only_this_test_workers: None,
) -> None:
    env = worker_env(
        slower_peer.url, THREADS=str(KILL_THREADS), TART_SEND_BATCH_SIZE=str(KILL_BATCH),
        TART_SEND_LEASE_SECONDS="3", TART_SMTP_POOL_SIZE=str(KILL_POOL),
    )  # fmt: skip
    workers = [WorkerProcess(env) for _ in range(3)]
    workers[0].start()
    try:
        email_id, addresses = await _campaign(pool, sync_conn, KILL_RECIPIENTS)
        for victim, survivor, share in ((0, 1, 4), (1, 2, 2)):
            await await_until(
                lambda s=share: len(slower_peer.received) >= KILL_RECIPIENTS // s, timeout=90
            )
            workers[victim].kill()
            received = len(slower_peer.received)
            assert received < KILL_RECIPIENTS, "the kill must land mid-campaign"
            leased = sync_conn.execute(
                "SELECT count(*) AS n FROM sends WHERE email_id = %s AND state = 'sending'",
                (email_id,),
            ).fetchone()["n"]
            # Claimed rows the killed worker had not started yet are among them: they were
            # never sent, and after the lease they are sent once.
            assert leased > PER_KILL_BOUND, f"only {leased} rows were in flight at the kill"
            workers[survivor].start()
        await await_until(lambda: email_state(sync_conn, email_id) == "sent", timeout=120)
    finally:
        for worker in workers:
            worker.stop()
    counts = Counter(r.rcpt_tos[0] for r in slower_peer.received)
    assert set(counts) == addresses, "every recipient got the message"
    duplicates = sum(counts.values()) - len(counts)
    print(f"FAULT worker SIGKILL x2 at a 50 ms relay: {duplicates} duplicates")
    assert duplicates <= 2 * PER_KILL_BOUND
    states = sync_conn.execute(
        "SELECT state::text, count(*) AS n FROM sends WHERE email_id = %s GROUP BY 1", (email_id,)
    ).fetchall()
    assert [(r["state"], r["n"]) for r in states] == [("sent", KILL_RECIPIENTS)]


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
