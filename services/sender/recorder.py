"""Writes each accepted send 'sent' within milliseconds of the relay's reply, set-based.

A relay's 250 is the moment a message must never be sent again, and only the database row can
say so to the worker that takes the row over after a crash. So the row must say 'sent' soon after
the 250, not when the whole batch is answered: a batch recorded at its end left every accepted
message of every batch in flight to be sent a second time when its worker was killed (up to
threads x batch size a process).

One recorder per worker process (its event loop): the batches hand it each accepted send as the
reply is read, and one writer task writes what has arrived in one ``UPDATE ... FROM unnest(...)``
(``record_sent``): ``interval`` after the first send of a write arrived, or at once when
``max_rows`` are waiting. So a send waits at most ``interval`` plus one write before its row says
'sent', and at most ``max_rows`` accepted sends wait at any moment besides the write in flight.
Each write costs the worker and PostgreSQL about a tenth of a millisecond of CPU whatever its
size: 10 ms between writes keeps that to a few microseconds a message at full speed (at 5 ms
the recorder took most of what the per-batch rendering saved). The statement only changes rows
still held by the same claim (``state = 'sending'`` and the claim's attempt number), so a late
write cannot overwrite a claim another worker made after the lease ran out.

Refusals and temporary failures are rare and are not sent again by mistake, so they are recorded
at the end of their batch with the bounce policy and webhooks (services/sender/batch.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from services.sender import metrics
from shared.logging import get_logger
from shared.sends import repository as sends

log = get_logger(__name__)

INTERVAL_SECONDS = 0.01
MAX_ROWS = 64


@dataclass
class _Write:
    """The sends of one write, column by column, and the future their batches wait on."""

    done: asyncio.Future[None]
    rows: sends.SentRows = field(default_factory=sends.SentRows)


class Recorder:
    """Collects accepted sends and writes them together every 10 ms (or 64 rows).

    ``retry_seconds``: how long one write keeps trying through a database outage before its
    batches fail (their rows then wait for the lease, and are sent again).
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        retry_seconds: float,
        interval: float = INTERVAL_SECONDS,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self.pool = pool
        self.retry_seconds = retry_seconds
        self.interval = interval
        self.max_rows = max_rows
        self._loop = asyncio.get_running_loop()
        self._next = _Write(self._loop.create_future())
        self._wake = asyncio.Event()
        self._full: asyncio.Future[None] | None = None  # set when max_rows are waiting
        self._writer = self._loop.create_task(self._run())

    def sent(
        self,
        send_id: int,
        attempt: int,
        variation_id: int | None,
        code: int | None,
        relay_id: str | None = None,
    ) -> asyncio.Future[None]:
        """Queue one accepted send (``relay_id``: the relay's queue id of it, if its reply named
        one); the future is done once its row is committed 'sent'."""
        write = self._next
        write.rows.add(send_id, attempt, variation_id, code, relay_id)
        self._wake.set()
        full = self._full
        if full is not None and not full.done() and len(write.rows.ids) >= self.max_rows:
            full.set_result(None)
        return write.done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if len(self._next.rows.ids) < self.max_rows:
                # The replies of the next 10 ms share the write, up to max_rows of them.
                self._full = full = self._loop.create_future()
                timer = self._loop.call_later(self.interval, _settle, full)
                await full
                timer.cancel()
                self._full = None
            write, self._next = self._next, _Write(self._loop.create_future())
            self._wake.clear()
            await self._write(write)

    async def _write(self, write: _Write) -> None:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            try:
                async with self.pool.connection() as conn:
                    # One statement is its own transaction: no BEGIN and COMMIT round trips
                    # (this runs every 10 ms while a campaign is sending).
                    await conn.set_autocommit(True)
                    try:
                        await sends.record_sent(conn, write.rows)
                    finally:
                        await conn.set_autocommit(False)
                break
            except (psycopg.OperationalError, PoolTimeout) as error:
                if time.monotonic() + delay > deadline:
                    write.done.set_exception(error)
                    return
                log.warning("recording sent sends failed; retrying", error=str(error), delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception as error:  # a bug must fail the batches, never leave them waiting
                log.exception("recording sent sends failed")
                write.done.set_exception(error)
                return
        metrics.RECORDED_ROWS.observe(len(write.rows.ids))
        write.done.set_result(None)

    async def close(self) -> None:
        """Stop the writer once what was queued so far is written."""
        if self._next.rows.ids:
            self._wake.set()
            await asyncio.shield(self._next.done)
        self._writer.cancel()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
