"""Preference center reads: the send's context and the subscriber row to change."""

from __future__ import annotations

from shared.db import Conn, Row, fetch_one, load_queries

Q = load_queries(__file__)


async def context(conn: Conn, send_id: int) -> Row | None:
    return await fetch_one(conn, Q.context, {"send_id": send_id})


async def lock_subscriber(conn: Conn, sender_id: int, subscriber_id: int) -> Row | None:
    return await fetch_one(conn, Q.lock_subscriber, {"id": subscriber_id, "sender_id": sender_id})
