"""Segment storage and the live count."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from shared.db import Conn, Row, fetch_all, fetch_one, load_queries
from shared.filters import Filter, compile_filter

Q = load_queries(__file__)


async def create(
    conn: Conn, sender_id: int, name: str, filter: dict[str, Any], filter_text: str | None
) -> Row:
    params = {"sender_id": sender_id, "name": name, "filter": Jsonb(filter),
              "filter_text": filter_text}  # fmt: skip
    row = await fetch_one(conn, Q.create, params)
    assert row is not None
    return row


async def get(conn: Conn, sender_id: int, segment_id: int) -> Row | None:
    return await fetch_one(conn, Q.get, {"sender_id": sender_id, "id": segment_id})


async def get_many(conn: Conn, sender_id: int, ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = await fetch_all(conn, Q.get_many, {"sender_id": sender_id, "ids": ids})
    return {row["id"]: row["filter"] for row in rows}


async def list_page(conn: Conn, sender_id: int, *, before_id: int | None, limit: int) -> list[Row]:
    params = {"sender_id": sender_id, "before_id": before_id, "limit": limit}
    return await fetch_all(conn, Q.list, params)


async def update(
    conn: Conn,
    sender_id: int,
    segment_id: int,
    *,
    name: str | None,
    filter: dict[str, Any] | None,
    filter_text: str | None,
) -> Row | None:
    params = {
        "sender_id": sender_id,
        "id": segment_id,
        "name": name,
        "filter": None if filter is None else Jsonb(filter),
        "filter_text": filter_text,
    }
    return await fetch_one(conn, Q.update, params)


async def delete(conn: Conn, sender_id: int, segment_id: int) -> bool:
    return await fetch_one(conn, Q.delete, {"sender_id": sender_id, "id": segment_id}) is not None


async def referencing(conn: Conn, sender_id: int, segment_id: int) -> list[Row]:
    return await fetch_all(conn, Q.referencing, {"sender_id": sender_id, "id": segment_id})


async def anonymous_events(conn: Conn, sender_id: int) -> bool:
    row = await fetch_one(conn, Q.anonymous_events, {"sender_id": sender_id})
    return bool(row and row["anonymous_events"])


async def count(conn: Conn, sender_id: int, f: Filter) -> int:
    """Active subscribers of the sender that match an expanded filter."""
    query = sql.SQL(Q.count.sql).format(filter=compile_filter(f, "s"))
    cur = await conn.execute(query, {"sender_id": sender_id})
    row = await cur.fetchone()
    assert row is not None
    return int(row["n"])
