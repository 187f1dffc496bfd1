"""PostgreSQL access: async psycopg 3 pools, named SQL loaded from ``queries.sql`` files, and the
unit of work: a transaction that publishes its queued jobs only after it commits.

Every domain keeps its SQL in ``shared/<domain>/queries.sql`` as ``-- name:`` blocks (aiosql's
format). Repositories run them through the typed helpers below, which return dict rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosql
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from shared import jobs
from shared.config import Settings
from shared.jobs import Job

Row = dict[str, Any]
Params = Mapping[str, Any] | Sequence[Any] | None
Conn = psycopg.AsyncConnection[Any]


class SQL(Protocol):
    """A loaded ``-- name:`` block: ``.sql`` holds the statement with bound placeholders."""

    sql: str


def load_queries(module_file: str, name: str = "queries.sql") -> Any:
    """Load the ``queries.sql`` beside a repository module. Attributes are the named blocks."""
    path = Path(module_file).with_name(name)
    return aiosql.from_path(path, "apsycopg", mandatory_parameters=False)


def create_pool(
    settings: Settings, *, name: str, max_size: int | None = None
) -> AsyncConnectionPool:
    """A pool that is created closed: open it in the service's lifespan with ``wait=False`` so a
    service starts (and reports not-ready) while PostgreSQL is down."""
    return AsyncConnectionPool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=max_size or settings.db_pool_max,
        kwargs={"row_factory": dict_row, "autocommit": False},
        name=name,
        open=False,
        timeout=10,
    )


async def fetch_one(conn: Conn, query: SQL, params: Params = None) -> Row | None:
    cur = await conn.execute(query.sql, params)
    row: Row | None = await cur.fetchone()
    return row


async def fetch_all(conn: Conn, query: SQL, params: Params = None) -> list[Row]:
    cur = await conn.execute(query.sql, params)
    rows: list[Row] = await cur.fetchall()
    return rows


async def fetch_value(conn: Conn, query: SQL, params: Params = None) -> Any:
    row = await fetch_one(conn, query, params)
    return None if row is None else next(iter(row.values()))


async def execute(conn: Conn, query: SQL, params: Params = None) -> int:
    """Run a statement; returns the number of rows it touched."""
    cur = await conn.execute(query.sql, params)
    return cur.rowcount


class Transaction:
    """One unit of work: a connection in a transaction plus the jobs to publish after COMMIT.

    Jobs are held until the commit succeeds, so a worker never sees an id that the database
    does not have yet; a crash between commit and publish is repaired by the sweeps that queue
    work left in a queued state again. Services never commit: they run on ``conn`` and queue
    their jobs here.
    """

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.after_commit: list[Job] = []

    def enqueue(self, *items: Job) -> None:
        """Publish these jobs once the transaction has committed (dropped if it rolls back)."""
        self.after_commit.extend(items)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A step that may fail while the unit of work goes on (a refused action whose page is
        shown again): on an exception, its statements and the jobs it queued are undone."""
        mark = len(self.after_commit)
        try:
            async with self.conn.transaction():
                yield
        except BaseException:
            del self.after_commit[mark:]
            raise

    async def publish_queued(self) -> None:
        """Publish the queued jobs (after COMMIT), off the event loop, each confirmed."""
        queued, self.after_commit = self.after_commit, []
        await jobs.publish(queued)


@asynccontextmanager
async def unit_of_work(conn: Conn) -> AsyncIterator[Transaction]:
    """A transaction on ``conn``: commit on success, roll back on an exception, then publish
    the queued jobs (only after a COMMIT)."""
    tx = Transaction(conn)
    async with conn.transaction():
        yield tx
    await tx.publish_queued()


@asynccontextmanager
async def transaction(pool: AsyncConnectionPool) -> AsyncIterator[Transaction]:
    """A unit of work on a connection of ``pool``, given back before the jobs are published."""
    async with pool.connection() as conn:
        tx = Transaction(conn)
        async with conn.transaction():
            yield tx
    await tx.publish_queued()


_worker_pool: AsyncConnectionPool | None = None
_worker_pool_loop: asyncio.AbstractEventLoop | None = None
_worker_pool_lock: asyncio.Lock | None = None


async def worker_pool() -> AsyncConnectionPool:
    """The pool of a dramatiq worker process, opened on first use on the AsyncIO middleware's
    event loop (every async actor of the process runs on that one loop). A pool belongs to the
    loop that opened it: when a process runs a second loop (an in-process worker started again,
    as the tests do), that loop gets a pool of its own instead of one whose loop is closed."""
    global _worker_pool, _worker_pool_loop, _worker_pool_lock
    loop = asyncio.get_running_loop()
    if _worker_pool is not None and _worker_pool_loop is loop:
        return _worker_pool
    if _worker_pool_loop is not loop:
        _worker_pool, _worker_pool_loop, _worker_pool_lock = None, loop, asyncio.Lock()
    assert _worker_pool_lock is not None
    async with _worker_pool_lock:
        if _worker_pool is None:
            from shared.config import get_settings

            pool = create_pool(get_settings(), name="worker")
            await pool.open(wait=True, timeout=30)
            _worker_pool = pool
    return _worker_pool


async def ping(pool: AsyncConnectionPool, wait_seconds: float = 2.0) -> None:
    """Raise unless PostgreSQL answers. Broken idle connections are dropped first, so readiness
    recovers by itself once the server is back."""
    await pool.check()
    async with pool.connection(timeout=wait_seconds) as conn:
        await conn.execute("SELECT 1")
