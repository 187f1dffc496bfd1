"""``receiver ingest`` as an MTA pipe runs it: exit codes with the broker or database down,
and no loss: the retried delivery finds the same stored row and queues it."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from tests.fixtures.ports import free_port
from tests.receiver import messages

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_ingest(raw: bytes, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "services.receiver",
            "ingest",
            "--envelope-to",
            "bounces@example.com",
        ],
        input=raw,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=60,
    )


def rows_for(conn: psycopg.Connection[dict], marker: bytes) -> list[dict]:
    return conn.execute(
        "SELECT id, state, envelope_to FROM inbound_messages WHERE position(%s in raw) > 0",
        (marker,),
    ).fetchall()


def test_broker_down_tempfails_then_retry_stores_once(sync_conn: psycopg.Connection[dict]) -> None:
    raw = messages.dsn("someone@example.org")
    marker = raw.split(b"Message-ID: ")[1][:40]
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    down = run_ingest(raw, TART_AMQP_URL=dead)
    assert down.returncode == 75, down.stderr.decode()[-2000:]
    up = run_ingest(raw)
    assert up.returncode == 0, up.stderr.decode()[-2000:]
    rows = rows_for(sync_conn, marker)
    assert len(rows) == 1 and rows[0]["envelope_to"] == "bounces@example.com"


def test_database_down_tempfails(sync_conn: psycopg.Connection[dict]) -> None:
    raw = messages.autoreply("x@example.com") + os.urandom(8).hex().encode()
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    result = run_ingest(raw, TART_DATABASE_URL=dead)
    assert result.returncode == 75
    assert rows_for(sync_conn, raw[-16:]) == []
