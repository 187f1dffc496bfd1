"""Receiver fixtures: a sender with subscribers and sends, committed (the parser runs in its
own transactions), and the token codec of this run's settings."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from shared.config import Settings
from shared.tokens import TokenCodec, codec_from_settings_secrets


@dataclass
class World:
    sender_id: int
    domain: str
    subscribers: dict[str, int]  # address -> id
    sends: dict[str, int]  # address -> sent send id
    queued: dict[str, int]  # address -> queued send id (another email)
    codec: TokenCodec

    def token(self, address: str) -> str:
        return self.codec.encode(self.sends[address])


@pytest.fixture
def codec(settings: Settings) -> TokenCodec:
    return codec_from_settings_secrets([s.get_secret_value() for s in settings.token_secrets])


def make_world(conn: psycopg.Connection[dict], codec: TokenCodec, count: int = 3) -> World:
    tag = uuid.uuid4().hex[:10]
    domain = f"bounce-{tag}.example.com"
    sender_id = conn.execute(
        "INSERT INTO senders (address, name, public_base_url, return_path_domain)"
        " VALUES (%s, 'News', 'https://news.example.com', %s) RETURNING id",
        (f"news-{tag}@example.com", domain),
    ).fetchone()["id"]
    emails = [
        conn.execute(
            "INSERT INTO emails (sender_id, name) VALUES (%s, %s) RETURNING id", (sender_id, n)
        ).fetchone()["id"]
        for n in ("first", "second")
    ]
    subscribers, sends, queued = {}, {}, {}
    for i in range(count):
        address = f"sub{i}-{tag}@example.org"
        sid = conn.execute(
            "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s) RETURNING id",
            (sender_id, address),
        ).fetchone()["id"]
        subscribers[address] = sid
        sends[address] = conn.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id, state, sent_at)"
            " VALUES (%s, %s, %s, 'queued', now()) RETURNING id",
            (emails[0], sender_id, sid),
        ).fetchone()["id"]
        conn.execute("UPDATE sends SET state = 'sending' WHERE id = %s", (sends[address],))
        conn.execute("UPDATE sends SET state = 'sent' WHERE id = %s", (sends[address],))
        queued[address] = conn.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id)"
            " VALUES (%s, %s, %s) RETURNING id",
            (emails[1], sender_id, sid),
        ).fetchone()["id"]
    return World(sender_id, domain, subscribers, sends, queued, codec)


@pytest.fixture
def world(sync_conn: psycopg.Connection[dict], codec: TokenCodec) -> Iterator[World]:
    yield make_world(sync_conn, codec)


@pytest.fixture(scope="session")
def parser_worker(database: str, amqp_vhost: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``receiver worker`` (dramatiq) consuming this run's vhost."""
    from tests.fixtures.ports import free_port

    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "TART_RECEIVER_METRICS_PORT": str(free_port()),
        "TART_WORKER_PROCESSES": "1",
        "TART_WORKER_THREADS": "4",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.receiver", "worker"],
        cwd=root,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")
