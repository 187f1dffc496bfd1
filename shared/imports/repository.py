"""Import job storage and the staging table COPY fills."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from shared.db import Conn, Row, execute, fetch_all, fetch_one, fetch_value, load_queries

Q = load_queries(__file__)
MAX_ERRORS = 100


async def create_job(conn: Conn, sender_id: int) -> Row:
    row = await fetch_one(conn, Q.create_job, {"sender_id": sender_id})
    assert row is not None
    return row


async def create_staging(conn: Conn) -> None:
    await execute(conn, Q.create_staging)


# line, address, locale, properties as JSON, and their property_bits (db/0070), computed here
# while Python parses so the database's merge does not compute them.
StagedRow = tuple[int, str, str, str, int]


async def copy_rows(conn: Conn, rows: list[StagedRow]) -> None:
    """COPY staged rows into the staging table.

    The rows are written as one COPY text block rather than row by row (psycopg's write_row
    costs a few microseconds a row in Python). Only the JSON can hold a backslash (the address
    and locale were validated and hold no whitespace or backslash); JSON escapes control
    characters, so doubling backslashes is the whole of COPY's text escaping here.
    """
    block = "".join(
        f"{line}\t{address}\t{locale}\t{props.replace(chr(92), chr(92) * 2)}\t{bits}\n"
        for line, address, locale, props, bits in rows
    )
    async with conn.cursor() as cur, cur.copy(Q.copy_staging.sql) as copy:
        await copy.write(block.encode())


async def merge_staged(conn: Conn, sender_id: int, job_id: int) -> tuple[int, list[int]]:
    """Merge the staged batch; returns (rows imported, lines refused by the database's rule).
    Call it inside a transaction (it uses a savepoint)."""
    try:
        async with conn.transaction():  # a savepoint: a refused row undoes only the fast try
            merged = await fetch_value(
                conn, Q.merge_staged_fast, {"sender_id": sender_id, "job_id": job_id}
            )
        return int(merged), []
    except psycopg.errors.CheckViolation:
        pass
    row = await fetch_one(conn, Q.merge_staged, {"sender_id": sender_id, "job_id": job_id})
    assert row is not None
    return int(row["merged"]), list(row["bad_lines"])


async def vacuum_subscribers(conn: Conn) -> None:
    """VACUUM cannot run inside a transaction block, so this one statement runs in autocommit."""
    await conn.commit()
    await conn.set_autocommit(True)
    try:
        await execute(conn, Q.vacuum_subscribers)
    finally:
        await conn.set_autocommit(False)


async def record_progress(
    conn: Conn, job_id: int, *, total: int, imported: int, errors: list[dict[str, Any]]
) -> None:
    await execute(
        conn,
        Q.record_progress,
        {
            "id": job_id,
            "total": total,
            "imported": imported,
            "errors": len(errors),
            "new_errors": json.dumps(errors[:MAX_ERRORS]),
            "max_errors": MAX_ERRORS,
        },
    )


async def finish_job(conn: Conn, job_id: int, *, state: str, fatal: str | None = None) -> Row:
    row = await fetch_one(conn, Q.finish_job, {"id": job_id, "state": state, "fatal": fatal})
    assert row is not None
    return row


async def get_job(conn: Conn, sender_id: int, job_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_job, {"id": job_id, "sender_id": sender_id})


async def list_jobs(conn: Conn, sender_id: int, *, before_id: int | None, limit: int) -> list[Row]:
    return await fetch_all(
        conn, Q.list_jobs, {"sender_id": sender_id, "before_id": before_id, "limit": limit}
    )
