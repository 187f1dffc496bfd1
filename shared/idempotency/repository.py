"""Idempotency key storage."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row, execute, fetch_one, load_queries

Q = load_queries(__file__)


async def claim(conn: Conn, sender_id: int, key: str, request_hash: bytes) -> bool:
    """True when this request is the first with the key (it then owns it until commit)."""
    row = await fetch_one(
        conn, Q.claim, {"sender_id": sender_id, "key": key, "request_hash": request_hash}
    )
    return row is not None


async def get(conn: Conn, sender_id: int, key: str) -> Row | None:
    return await fetch_one(conn, Q.get, {"sender_id": sender_id, "key": key})


async def store(conn: Conn, sender_id: int, key: str, status_code: int, response: Any) -> None:
    await execute(
        conn,
        Q.store,
        {
            "sender_id": sender_id,
            "key": key,
            "status_code": status_code,
            "response": Jsonb(response),
        },
    )


async def purge(conn: Conn, hours: int = 24) -> int:
    return await execute(conn, Q.purge, {"hours": hours})
