"""Session-wide real servers: a fresh PostgreSQL database and a RabbitMQ vhost per run.

The environment is set here, before any ``shared`` module is imported, because the settings (and
the broker built from them on first use) are read once per process.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

RUN_ID = uuid.uuid4().hex[:10]
TEST_DB = f"tart_test_{RUN_ID}"
TEST_VHOST = f"tart_test_{RUN_ID}"
os.environ.update(
    {
        "TART_ENV": "test",
        "TART_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{TEST_DB}",
        "TART_AMQP_URL": f"amqp://guest:guest@127.0.0.1:5672/{TEST_VHOST}",
        "TART_TOKEN_SECRETS": "test-token-secret-0123456789,test-old-secret-abcdefghij",
        "TART_SESSION_SECRET": "test-session-secret-0123456789",
        "TART_LOG_FORMAT": "console",
        "TART_LOG_LEVEL": "warning",
    }
)

import psycopg  # noqa: E402
import pytest  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402
from psycopg_pool import AsyncConnectionPool  # noqa: E402

from shared.config import Settings, get_settings  # noqa: E402
from shared.db import create_pool  # noqa: E402
from shared.migrate import drop_database, ensure_database, migrate  # noqa: E402
from tests.fixtures.dovecot import Dovecot, start_dovecot  # noqa: E402
from tests.fixtures.smtp import SmtpPeer, has_plain_part, start_smtp_peer  # noqa: E402


def _rabbitmqctl(*args: str) -> None:
    result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session", autouse=True)
def database(settings: Settings) -> Iterator[str]:
    """A database for this run, migrated once and dropped at the end. If PostgreSQL is not
    reachable, every test errors here: nothing is skipped."""
    ensure_database(settings.database_url)
    migrate(settings.database_url)
    yield settings.database_url
    drop_database(settings.database_url)


@pytest.fixture(scope="session", autouse=True)
def amqp_vhost(settings: Settings) -> Iterator[str]:
    """A RabbitMQ vhost for this run, so queues never mix with a running system's."""
    _rabbitmqctl("add_vhost", TEST_VHOST)
    _rabbitmqctl("set_permissions", "-p", TEST_VHOST, "guest", ".*", ".*", ".*")
    yield settings.amqp_url
    _rabbitmqctl("delete_vhost", TEST_VHOST)


@pytest.fixture(scope="session")
async def pool(settings: Settings, database: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = create_pool(settings, name="tests")
    await pool.open(wait=True, timeout=10)
    yield pool
    await pool.close()


@pytest.fixture
async def conn(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection[dict]]:
    """A connection inside a transaction that is rolled back after the test."""
    async with pool.connection() as connection:
        await connection.execute("BEGIN")
        try:
            yield connection
        finally:
            await connection.rollback()


@pytest.fixture
def sync_conn(database: str) -> Iterator[psycopg.Connection[dict]]:
    """A plain autocommit connection, for asserting what other processes wrote."""
    with psycopg.connect(database, autocommit=True, row_factory=dict_row) as connection:
        yield connection


@pytest.fixture(scope="session")
def smtp_peer_session() -> Iterator[SmtpPeer]:
    peer, controller = start_smtp_peer()
    yield peer
    controller.stop()


@pytest.fixture
def smtp_peer(smtp_peer_session: SmtpPeer) -> Iterator[SmtpPeer]:
    """The aiosmtpd peer, emptied before each test. The test fails if a message it sent had no
    plain part (every message goes out with one: plain alone, or plain beside HTML)."""
    smtp_peer_session.clear()
    yield smtp_peer_session
    with smtp_peer_session.lock:  # parsed here, not as they arrive: the peer stays as fast
        received = list(smtp_peer_session.received)
    smtp_peer_session.clear()
    without_plain = [r.rcpt_tos for r in received if not has_plain_part(r.data)]
    assert not without_plain, f"messages without a plain part went to {without_plain[:5]}"


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = start_dovecot()
    yield server
    server.stop()


def unique_address(prefix: str = "user", domain: str = "example.com") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@{domain}"
