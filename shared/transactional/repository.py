"""Transactional send storage. Every query is scoped by sender_id; inserts are set-based (one
statement for a whole batch)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row, fetch_all, fetch_one, load_queries

Q = load_queries(__file__)


async def get_emails(conn: Conn, sender_id: int, email_ids: list[int]) -> dict[int, Row]:
    rows = await fetch_all(conn, Q.get_email, {"sender_id": sender_id, "email_ids": email_ids})
    return {row["id"]: row for row in rows}


async def recipients(
    conn: Conn, sender_id: int, ids: list[int], addresses: list[str], hashes: list[bytes]
) -> list[Row]:
    """``hashes``: the keyed hash of each address (same order), to find erased ones."""
    params = {"sender_id": sender_id, "ids": ids, "addresses": addresses, "hashes": hashes}
    return await fetch_all(conn, Q.recipients, params)


async def insert_sends(conn: Conn, sender_id: int, items: list[dict[str, Any]]) -> list[Row]:
    """``items``: ord, email_id, subscriber_id, address, data, headers, attachments."""
    if not items:
        return []
    return await fetch_all(conn, Q.insert_sends, {"sender_id": sender_id, "items": Jsonb(items)})


async def get_send(conn: Conn, sender_id: int, send_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_send, {"sender_id": sender_id, "send_id": send_id})


async def send_events(conn: Conn, send_id: int) -> list[Row]:
    return await fetch_all(conn, Q.send_events, {"send_id": send_id})


async def recent_sends(
    conn: Conn, sender_id: int, email_id: int, *, before_id: int | None, limit: int
) -> list[Row]:
    params = {"sender_id": sender_id, "email_id": email_id, "before_id": before_id,
              "limit": limit}  # fmt: skip
    return await fetch_all(conn, Q.recent_sends, params)
