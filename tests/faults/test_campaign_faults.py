"""Faults during a 20,000-recipient campaign (issue 9): after each one every recipient has
exactly one message or the documented duplicate bound holds, nothing is left 'sending', and the
send states match what the relay received. Each test prints a FAULT line with its figures
(docs/reliability.md quotes them)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from shared.campaigns import service
from shared.db import transaction
from tests.faults.conftest import (
    BATCH,
    DUPLICATE_BOUND,
    POOL,
    RECIPIENTS,
    THREADS,
    Campaign,
    Relay,
    check_campaign,
    email_state,
    send_states,
    start_campaign,
    wait_for,
)
from tests.fixtures.proxy import TcpProxy
from tests.sender.conftest import WorkerProcess, worker_env

pytestmark = pytest.mark.slow

FINISH = 240.0  # seconds a campaign may take to finish after its fault
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\S+ \[")  # a structured log line's start


@pytest.fixture
def relay() -> Iterator[Relay]:
    r = Relay()
    r.start()
    yield r
    r.stop()


def workers(relay: Relay, n: int = 2, **env: str) -> list[WorkerProcess]:
    overrides = {
        "THREADS": str(THREADS), "TART_SEND_BATCH_SIZE": str(BATCH),
        "TART_SEND_LEASE_SECONDS": "5", "TART_SMTP_POOL_SIZE": str(POOL),
        "TART_SEND_RETRY_MIN_SECONDS": "0.5", "TART_SEND_RETRY_MAX_SECONDS": "4",
        **env,
    }  # fmt: skip
    procs = [WorkerProcess(worker_env(relay.url, **overrides)) for _ in range(n)]
    for p in procs:
        p.start()
    return procs


def stop_all(procs: list[WorkerProcess]) -> None:
    for p in procs:
        p.stop()


async def finish(sync_conn: psycopg.Connection[Any], email_id: int, procs: list[Any]) -> float:
    try:
        return await wait_for(
            lambda: email_state(sync_conn, email_id) == "sent", FINISH, "campaign finished"
        )
    except AssertionError:
        # The workers' own log lines, not the tail of a library's traceback.
        logs = "\n".join(
            "\n".join(
                [line for line in Path(p.log_path).read_text(errors="replace").splitlines()
                 if LOG_LINE.match(line)][-30:]
            )
            for p in procs
        )  # fmt: skip
        states = send_states(sync_conn, email_id)
        raise AssertionError(f"campaign did not finish; sends {states}; logs:\n{logs}") from None


async def _run_with_fault(
    pool: Any, sync_conn: Any, relay: Relay, fault: Any, name: str, bound: int, **env: str
) -> None:
    """Start workers and the campaign, wait until a share is delivered, inject ``fault`` (an
    async callable given the workers; it returns when the fault is over), then check."""
    procs = workers(relay, **env)
    c: Campaign | None = None
    try:
        c = await start_campaign(pool, sync_conn)
        await wait_for(lambda: relay.handler.total() >= RECIPIENTS // 5, FINISH, "first fifth")
        at = await fault(procs)
        recovered_at = time.monotonic()
        await finish(sync_conn, c.email_id, procs)
    finally:
        stop_all(procs)
        if c is not None and email_state(sync_conn, c.email_id) != "sent":
            # A failed run must not leave queued rows for the next test's workers to send.
            async with transaction(pool) as tx:
                await service.cancel(tx.conn, sender_id=c.sender_id, email_id=c.email_id)
    outcome = check_campaign(sync_conn, c, relay, name, bound)
    outcome.recovery = time.monotonic() - recovered_at if at is None else at
    print(outcome.line())


async def test_worker_sigkilled_twice(
    pool: Any, sync_conn: Any, relay: Relay, scheduler_ticks: None
) -> None:
    async def kill_twice(procs: list[WorkerProcess]) -> None:
        for share in (0.3, 0.6):
            await wait_for(lambda s=share: relay.handler.total() >= RECIPIENTS * s, FINISH, "share")
            victim = procs[0]
            victim.kill()
            victim.start()  # a supervisor restarts it; its claimed rows wait for their lease
        return None

    # Two kills, each may leave what one process had on the wire or accepted but not recorded.
    await _run_with_fault(pool, sync_conn, relay, kill_twice, "worker SIGKILL x2",
                          bound=2 * DUPLICATE_BOUND)  # fmt: skip


def _via(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    auth = f"{parts.username}:{parts.password}@" if parts.password else f"{parts.username}@"
    return f"{parts.scheme}://{auth}127.0.0.1:{proxy.port}{parts.path}"


@pytest.mark.parametrize("server", ["broker", "database"])
async def test_server_goes_away_and_comes_back(
    pool: Any, sync_conn: Any, settings: Any, relay: Relay, scheduler_ticks: None, server: str
) -> None:
    proxy = TcpProxy(5672 if server == "broker" else 5432)
    proxy.start()
    # A batch that sent its messages keeps retrying its outcome UPDATE for 0.8 of the lease;
    # the other tests shorten the lease to 5 s to recover killed workers fast, which would give
    # up before a 5 s database outage ends. Here it is long enough to ride the outage out.
    env = (
        {"TART_AMQP_URL": _via(proxy, settings.amqp_url)}
        if server == "broker"
        else {"TART_DATABASE_URL": _via(proxy, settings.database_url),
              "TART_SEND_LEASE_SECONDS": "20"}
    )  # fmt: skip

    async def outage(procs: list[WorkerProcess]) -> None:
        proxy.cut()
        await asyncio.sleep(5)
        proxy.start()

    try:
        # Outcomes known during the outage are recorded once it ends: no row is sent twice.
        await _run_with_fault(pool, sync_conn, relay, outage, f"{server} away 5 s",
                              bound=0, **env)  # fmt: skip
    finally:
        proxy.cut()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


async def test_rabbitmq_restarted(
    pool: Any, sync_conn: Any, relay: Relay, scheduler_ticks: None
) -> None:
    """The real broker stops and starts again (its application, not the Erlang node): every
    connection drops, and the durable queues with their persistent messages come back."""

    async def restart(procs: list[WorkerProcess]) -> None:
        try:
            await asyncio.to_thread(_rabbitmqctl, "stop_app")
            await asyncio.sleep(5)
        finally:
            await asyncio.to_thread(_rabbitmqctl, "start_app")
            await asyncio.to_thread(_rabbitmqctl, "await_startup")

    await _run_with_fault(pool, sync_conn, relay, restart, "RabbitMQ restarted", bound=0)


RELAY_OUTAGE = 30.0


async def test_relay_down_30s_then_back(
    pool: Any, sync_conn: Any, relay: Relay, scheduler_ticks: None
) -> None:
    async def relay_down(procs: list[WorkerProcess]) -> None:
        relay.stop()
        await asyncio.sleep(RELAY_OUTAGE)
        relay.start()

    # Connection refused is a temporary failure: rows go back to 'queued' with backoff
    # (0.5 s doubling up to 4 s, for the default 5-day lifetime), so nothing is sent twice.
    await _run_with_fault(pool, sync_conn, relay, relay_down, "relay down 30 s", bound=0)


async def test_relay_answers_421_to_a_third_of_sessions(
    pool: Any, sync_conn: Any, relay: Relay, scheduler_ticks: None
) -> None:
    async def busy(procs: list[WorkerProcess]) -> None:
        relay.handler.refuse_every = 3
        return None

    relay.handler.refuse_every = 3
    await _run_with_fault(pool, sync_conn, relay, busy, "relay 421 on 1/3 sessions", bound=0)
    assert relay.handler.refused_sessions > 0
    print(f"421 sessions: {relay.handler.refused_sessions}")
