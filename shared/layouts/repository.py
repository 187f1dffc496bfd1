"""Layout storage. Every query is scoped by sender_id."""

from __future__ import annotations

from typing import Any

from shared.db import Conn, Row, fetch_all, fetch_one, fetch_value, load_queries

Q = load_queries(__file__)


async def list_layouts(conn: Conn, sender_id: int) -> list[Row]:
    return await fetch_all(conn, Q.list_layouts, {"sender_id": sender_id})


async def get_layout(conn: Conn, sender_id: int, layout_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_layout, {"sender_id": sender_id, "id": layout_id})


async def create_layout(conn: Conn, sender_id: int, values: dict[str, Any]) -> Row | None:
    return await fetch_one(conn, Q.create_layout, {"sender_id": sender_id, **values})


async def update_layout(
    conn: Conn, sender_id: int, layout_id: int, values: dict[str, Any]
) -> Row | None:
    params = {"sender_id": sender_id, "id": layout_id, **values}
    return await fetch_one(conn, Q.update_layout, params)


async def delete_layout(conn: Conn, sender_id: int, layout_id: int) -> bool:
    row = await fetch_one(conn, Q.delete_layout, {"sender_id": sender_id, "id": layout_id})
    return row is not None


async def bulk_emails_using(conn: Conn, sender_id: int, layout_id: int) -> int:
    n = await fetch_value(conn, Q.bulk_emails_using, {"sender_id": sender_id, "id": layout_id})
    return int(n or 0)
