"""Store one raw message and queue inbound.parse: shared by the IMAP poller and the pipe CLI.

The order is what makes intake lossless: the raw bytes are committed first (deduplicated by
sha256), then inbound.parse is published with a broker confirm, and only then may the source
forget the message (IMAP flag/move/delete, or the pipe's exit 0). A crash between steps leaves
the message at its source, so it is fetched again, found by its hash, and published again;
inbound.parse ignores a message that is already parsed, so nothing is processed twice.
"""

from __future__ import annotations

import sys

from psycopg_pool import AsyncConnectionPool

from services.receiver import metrics
from shared.config import Settings
from shared.db import create_pool, transaction
from shared.inbound import repository as inbound
from shared.inbound.reprocess import parse_message

EX_TEMPFAIL = 75


async def store_and_queue(
    pool: AsyncConnectionPool,
    raw: bytes,
    *,
    source: str,
    envelope_to: str | None,
    settings: Settings,
) -> int:
    """Store ``raw`` and publish inbound.parse (confirmed). Returns the inbound id.

    A duplicate is published again (its first publish may have been lost in a crash); an
    oversize message is stored and never queued. Raises if the database or the broker fails.
    """
    async with transaction(pool) as tx:  # stored, then inbound.parse published after COMMIT
        row = await inbound.store_raw(
            tx.conn,
            raw,
            source=source,
            envelope_to=envelope_to,
            max_bytes=settings.max_inbound_bytes,
        )
        if row["state"] in ("stored", "failed"):
            tx.enqueue(parse_message(row["id"]))
    outcome = (
        "oversize" if row["state"] == "oversize" else ("new" if row["inserted"] else "duplicate")
    )
    metrics.STORED.labels(outcome).inc()
    return int(row["id"])


async def store_and_queue_many(
    pool: AsyncConnectionPool, raws: list[bytes], *, source: str, settings: Settings
) -> list[int]:
    """store_and_queue for a batch from one mailbox: one statement, one commit, then every
    inbound.parse published (each confirmed) in one thread hop. Returns the inbound ids."""
    async with transaction(pool) as tx:
        rows = await inbound.store_many(
            tx.conn, raws, source=source, max_bytes=settings.max_inbound_bytes
        )
        tx.enqueue(*(parse_message(r["id"]) for r in rows if r["state"] in ("stored", "failed")))
    for row in rows:
        outcome = (
            "oversize"
            if row["state"] == "oversize"
            else ("new" if row["inserted"] else "duplicate")
        )
        metrics.STORED.labels(outcome).inc()
    return [int(r["id"]) for r in rows]


async def ingest_stdin(settings: Settings, envelope_to: str | None) -> int:
    """The pipe CLI: 0 when stored and queued, 75 (EX_TEMPFAIL) so the MTA retries otherwise."""
    raw = sys.stdin.buffer.read(settings.max_inbound_bytes + 1)
    # Drain whatever is left so the MTA sees the pipe consumed; only the prefix is kept.
    total = len(raw)
    while chunk := sys.stdin.buffer.read(1 << 20):
        total += len(chunk)
    metrics.FETCHED.labels("pipe").inc()
    pool = create_pool(settings, name="ingest", max_size=1)
    try:
        await pool.open(wait=True, timeout=5)
        inbound_id = await store_and_queue(
            pool, raw, source="pipe", envelope_to=envelope_to, settings=settings
        )
    except Exception as error:
        print(f"tart receiver ingest: temporary failure: {error}", file=sys.stderr)
        return EX_TEMPFAIL
    finally:
        await pool.close()
    print(f"stored inbound {inbound_id} ({total} bytes)", file=sys.stderr)
    return 0
