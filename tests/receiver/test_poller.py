"""The IMAP poller against a private Dovecot and a real dramatiq worker: a DSN, an ARF and a
DMARC zip appended to a mailbox become rows; a poller that dies between its steps loses
nothing and processes nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from imapclient import IMAPClient
from psycopg_pool import AsyncConnectionPool

from services.receiver.poller import PROCESSED_KEYWORD, Mailbox, MailboxPoller, connect
from shared.config import Settings
from tests.fixtures.dovecot import Dovecot
from tests.fixtures.ports import free_port
from tests.fixtures.proxy import TcpProxy
from tests.receiver import messages
from tests.receiver.conftest import World, wait_until

ROOT = Path(__file__).resolve().parents[2]
POLL = [sys.executable, "-m", "services.receiver", "poll"]


class Crash(Exception):
    """Plays a poller process dying at a chosen step."""


def new_folder(dovecot: Dovecot, batch: list[bytes]) -> str:
    folder = "t" + uuid.uuid4().hex[:10]
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as client:
        client.login(dovecot.user, dovecot.password)
        client.create_folder(folder)
        for raw in batch:
            client.append(folder, raw)
    return folder


def folder_flags(dovecot: Dovecot, folder: str) -> list[tuple[bytes, ...]]:
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as client:
        client.login(dovecot.user, dovecot.password)
        client.select_folder(folder, readonly=True)
        data = client.fetch(client.search(["ALL"]), ["FLAGS"])
        return [data[uid][b"FLAGS"] for uid in sorted(data)]


def inbound_rows(conn: psycopg.Connection[dict], folder: str) -> list[dict]:
    return conn.execute(
        "SELECT id, state, kind FROM inbound_messages WHERE source LIKE %s ORDER BY id",
        (f"%/{folder}",),
    ).fetchall()


def batch_for(world: World) -> list[bytes]:
    a, b, _ = list(world.sends)
    report_id = "poll-" + uuid.uuid4().hex
    zipped = messages.zipped("r.xml", messages.dmarc_xml(report_id, records=3))
    return [
        messages.dsn(a, envelope_to=f"bounces+{world.token(a)}@{world.domain}"),
        messages.arf("redacted@isp.example", world.token(b)),
        messages.report_mail(zipped, "report.xml.zip"),
    ]


def all_parsed(conn: psycopg.Connection[dict], folder: str, count: int) -> bool:
    rows = inbound_rows(conn, folder)
    return len(rows) == count and all(r["state"] == "parsed" for r in rows)


async def test_dsn_arf_and_dmarc_zip_become_rows(
    dovecot: Dovecot,
    pool: AsyncConnectionPool,
    settings: Settings,
    sync_conn: psycopg.Connection[dict],
    world: World,
    parser_worker: subprocess.Popen[bytes],
) -> None:
    folder = new_folder(dovecot, batch_for(world))
    poller = MailboxPoller(Mailbox.from_url(dovecot.url(folder)), pool, settings)
    client = connect(poller.box)
    try:
        assert await poller.drain(client) == 3
        assert await poller.drain(client) == 0  # marked: not fetched again
    finally:
        client.logout()
    assert all(
        PROCESSED_KEYWORD in flags and b"\\Seen" in flags for flags in folder_flags(dovecot, folder)
    )
    wait_until(lambda: all_parsed(sync_conn, folder, 3))
    kinds = sorted(r["kind"] for r in inbound_rows(sync_conn, folder))
    assert kinds == ["arf", "bounce", "dmarc_aggregate"]
    a, b, _ = list(world.sends)
    states = {
        r["address"]: r["state"]
        for r in sync_conn.execute(
            "SELECT address, state FROM subscribers WHERE sender_id = %s", (world.sender_id,)
        ).fetchall()
    }
    assert states[a] == "bounced" and states[b] == "complained"
    ids = [r["id"] for r in inbound_rows(sync_conn, folder)]
    records = sync_conn.execute(
        "SELECT count(*) AS n FROM dmarc_aggregate_records d JOIN dmarc_aggregate_reports r"
        " ON r.id = d.report_id WHERE r.inbound_id = ANY(%s)",
        (ids,),
    ).fetchone()["n"]
    assert records == 3


@pytest.mark.parametrize("crash_at", ["published", "marked"])
async def test_crash_between_steps_loses_nothing_and_doubles_nothing(
    crash_at: str,
    dovecot: Dovecot,
    pool: AsyncConnectionPool,
    settings: Settings,
    sync_conn: psycopg.Connection[dict],
    world: World,
    parser_worker: subprocess.Popen[bytes],
) -> None:
    folder = new_folder(dovecot, batch_for(world))
    box = Mailbox.from_url(dovecot.url(folder))

    def crash(step: str, uids: list[int]) -> None:
        if step == crash_at:
            raise Crash(step)

    client = connect(box)
    try:
        with pytest.raises(Crash):
            await MailboxPoller(box, pool, settings, after_step=crash).drain(client)
    finally:
        client.logout()
    client = connect(box)
    try:
        again = await MailboxPoller(box, pool, settings).drain(client)
    finally:
        client.logout()
    assert again == (3 if crash_at == "published" else 0)
    wait_until(lambda: all_parsed(sync_conn, folder, 3))
    a, b, _ = list(world.sends)
    events = sync_conn.execute(
        "SELECT kind::text, count(*) AS n FROM send_events WHERE send_id = ANY(%s) GROUP BY kind",
        ([world.sends[a], world.sends[b]],),
    ).fetchall()
    assert {e["kind"]: e["n"] for e in events} == {"bounce": 1, "complaint": 1}
    reports = sync_conn.execute(
        "SELECT count(*) AS n FROM response_reports WHERE send_id = ANY(%s)",
        ([world.sends[a], world.sends[b]],),
    ).fetchone()["n"]
    assert reports == 2


def test_killed_poller_with_broker_down_then_restarted(
    dovecot: Dovecot,
    sync_conn: psycopg.Connection[dict],
    world: World,
    parser_worker: subprocess.Popen[bytes],
) -> None:
    """A real poller process: the broker is unreachable, so it stores but cannot publish; it is
    SIGKILLed; a second poller with the broker up finishes the job, once."""
    folder = new_folder(dovecot, batch_for(world))
    env = {
        **os.environ,
        "TART_IMAP_URLS": dovecot.url(folder),
        "TART_POLLER_METRICS_PORT": str(free_port()),
        "TART_IMAP_POLL_SECONDS": "0.5",
    }
    dead = {**env, "TART_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"}
    first = subprocess.Popen(
        POLL, cwd=ROOT, env=dead, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: len(inbound_rows(sync_conn, folder)) >= 1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    assert not any(PROCESSED_KEYWORD in f for f in folder_flags(dovecot, folder))
    # A long poll interval: a message appended later must arrive through IDLE, not polling.
    metrics_port = free_port()
    env = {**env, "TART_IMAP_POLL_SECONDS": "60", "TART_POLLER_METRICS_PORT": str(metrics_port)}
    second = subprocess.Popen(
        POLL, cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: all_parsed(sync_conn, folder, 3))
        wait_until(lambda: all(PROCESSED_KEYWORD in f for f in folder_flags(dovecot, folder)))
        with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as client:
            client.login(dovecot.user, dovecot.password)
            client.append(folder, messages.autoreply("news@example.com") + b"late")
        wait_until(lambda: all_parsed(sync_conn, folder, 4), timeout=15)
        body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
        assert 'tart_inbound_fetched_total{source="imap"} 4.0' in body
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=15)
    assert len(inbound_rows(sync_conn, folder)) == 4


async def test_poller_reconnects_after_the_server_goes_away(
    dovecot: Dovecot,
    pool: AsyncConnectionPool,
    settings: Settings,
    sync_conn: psycopg.Connection[dict],
    world: World,
) -> None:
    folder = new_folder(dovecot, [messages.autoreply("news@example.com") + b"one"])
    proxy = TcpProxy(dovecot.port)
    proxy.start()
    url = f"imap://{dovecot.user}:{dovecot.password}@127.0.0.1:{proxy.port}/{folder}"
    fast = settings.model_copy(update={"imap_poll_seconds": 0.3})
    stop = asyncio.Event()
    task = asyncio.create_task(MailboxPoller(Mailbox.from_url(url), pool, fast).run(stop))
    try:
        await async_wait(lambda: len(inbound_rows(sync_conn, folder)) == 1)
        proxy.cut()
        with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as client:
            client.login(dovecot.user, dovecot.password)
            client.append(folder, messages.autoreply("news@example.com") + b"two")
        await asyncio.sleep(1.5)
        assert len(inbound_rows(sync_conn, folder)) == 1
        proxy.start()
        await async_wait(lambda: len(inbound_rows(sync_conn, folder)) == 2, timeout=20)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        proxy.cut()


async def async_wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.1)
