"""Webhook delivery log storage."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row, execute, fetch_all, fetch_one, load_queries

Q = load_queries(__file__)


async def create_delivery(
    conn: Conn, sender_id: int, event: str, payload: dict[str, Any]
) -> list[int]:
    """Ids of the delivery rows written (none when the sender does not subscribe)."""
    rows = await fetch_all(
        conn, Q.create_delivery, {"sender_id": sender_id, "event": event, "payload": Jsonb(payload)}
    )
    return [row["id"] for row in rows]


async def lock_for_attempt(conn: Conn, delivery_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_delivery_for_attempt, {"id": delivery_id})


async def record_attempt(
    conn: Conn,
    delivery_id: int,
    *,
    state: str,
    last_status: int | None,
    last_error: str | None,
    delay_s: float = 0.0,
) -> None:
    await execute(
        conn,
        Q.record_attempt,
        {
            "id": delivery_id,
            "state": state,
            "last_status": last_status,
            "last_error": last_error,
            "delay_s": delay_s,
        },
    )


async def list_deliveries(
    conn: Conn, sender_id: int, *, state: str | None, before_id: int | None, limit: int
) -> list[Row]:
    return await fetch_all(
        conn,
        Q.list_deliveries,
        {"sender_id": sender_id, "state": state, "before_id": before_id, "limit": limit},
    )


async def get_delivery(conn: Conn, sender_id: int, delivery_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_delivery, {"id": delivery_id, "sender_id": sender_id})


async def replay_delivery(conn: Conn, sender_id: int, delivery_id: int) -> Row | None:
    return await fetch_one(conn, Q.replay_delivery, {"id": delivery_id, "sender_id": sender_id})


async def due_deliveries(conn: Conn, *, grace_s: float, limit: int) -> list[int]:
    rows = await fetch_all(conn, Q.due_deliveries, {"grace_s": grace_s, "limit": limit})
    return [row["id"] for row in rows]
