"""Form storage; the rules a form's settings follow are in ``service.py``."""

from __future__ import annotations

from typing import Any

from shared.db import Conn, Row, fetch_all, fetch_one, fetch_value, load_queries

Q = load_queries(__file__)


async def list_forms(conn: Conn, sender_id: int) -> list[Row]:
    return await fetch_all(conn, Q.list_forms, {"sender_id": sender_id})


async def get_form(conn: Conn, sender_id: int, form_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_form, {"id": form_id, "sender_id": sender_id})


async def public_form(conn: Conn, form_id: int) -> Row | None:
    """The form with its sender's name and its topics' labels (for the public pages)."""
    return await fetch_one(conn, Q.public_form, {"id": form_id})


async def create_form(conn: Conn, sender_id: int, settings: dict[str, Any]) -> Row:
    row = await fetch_one(conn, Q.create_form, {"sender_id": sender_id, **settings})
    assert row is not None
    return row


async def update_form(
    conn: Conn, sender_id: int, form_id: int, settings: dict[str, Any]
) -> Row | None:
    return await fetch_one(conn, Q.update_form, {"id": form_id, "sender_id": sender_id, **settings})


async def delete_form(conn: Conn, sender_id: int, form_id: int) -> bool:
    return await fetch_one(conn, Q.delete_form, {"id": form_id, "sender_id": sender_id}) is not None


async def email_exists(conn: Conn, sender_id: int, email_id: int) -> bool:
    return bool(
        await fetch_value(conn, Q.email_exists, {"email_id": email_id, "sender_id": sender_id})
    )


async def declared_topics(conn: Conn, sender_id: int, keys: list[str]) -> set[str]:
    rows = await fetch_all(conn, Q.declared_topics, {"sender_id": sender_id, "keys": keys})
    return {r["key"] for r in rows}
