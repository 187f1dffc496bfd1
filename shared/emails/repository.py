"""Email and variation storage. Every query is scoped by sender_id."""

from __future__ import annotations

from typing import Any

from shared.db import Conn, Row, fetch_all, fetch_one, fetch_value, load_queries

Q = load_queries(__file__)
EMAIL_FIELDS = (
    "name",
    "bulk",
    "redirect_url",
    "locales",
    "track_clicks",
    "transactional",
    "layout_id",
)
VARIATION_FIELDS = ("name", "subject", "plain_body", "html_body", "weight", "state")


def _flags(fields: tuple[str, ...], changes: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in fields:
        params[f"set_{name}"] = name in changes
        params[name] = changes.get(name)
    return params


async def create_email(conn: Conn, sender_id: int, values: dict[str, Any]) -> Row:
    params = {"transactional": False, "layout_id": None, "sender_id": sender_id, **values}
    row = await fetch_one(conn, Q.create_email, params)
    assert row is not None
    return row


async def get_email(conn: Conn, sender_id: int, email_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_email, {"id": email_id, "sender_id": sender_id})


async def lock_email(conn: Conn, sender_id: int, email_id: int) -> Row | None:
    return await fetch_one(conn, Q.lock_email, {"id": email_id, "sender_id": sender_id})


async def list_emails(
    conn: Conn, sender_id: int, *, state: str | None, before_id: int | None, limit: int
) -> list[Row]:
    return await fetch_all(
        conn,
        Q.list_emails,
        {"sender_id": sender_id, "state": state, "before_id": before_id, "limit": limit},
    )


async def update_email(
    conn: Conn, sender_id: int, email_id: int, changes: dict[str, Any]
) -> Row | None:
    params = {"id": email_id, "sender_id": sender_id, **_flags(EMAIL_FIELDS, changes)}
    return await fetch_one(conn, Q.update_email, params)


async def delete_email(conn: Conn, sender_id: int, email_id: int) -> bool:
    row = await fetch_one(conn, Q.delete_email, {"id": email_id, "sender_id": sender_id})
    return row is not None


async def list_variations(conn: Conn, sender_id: int, email_ids: list[int]) -> list[Row]:
    return await fetch_all(
        conn, Q.list_variations, {"sender_id": sender_id, "email_ids": email_ids}
    )


async def get_variation(conn: Conn, sender_id: int, email_id: int, variation_id: int) -> Row | None:
    return await fetch_one(
        conn, Q.get_variation, {"id": variation_id, "email_id": email_id, "sender_id": sender_id}
    )


async def create_variation(
    conn: Conn, sender_id: int, email_id: int, values: dict[str, Any]
) -> Row | None:
    params = {"sender_id": sender_id, "email_id": email_id, **values}
    return await fetch_one(conn, Q.create_variation, params)


async def update_variation(
    conn: Conn, sender_id: int, email_id: int, variation_id: int, changes: dict[str, Any]
) -> Row | None:
    params = {
        "id": variation_id,
        "email_id": email_id,
        "sender_id": sender_id,
        **_flags(VARIATION_FIELDS, changes),
    }
    return await fetch_one(conn, Q.update_variation, params)


async def delete_variation(conn: Conn, sender_id: int, email_id: int, variation_id: int) -> bool:
    params = {"id": variation_id, "email_id": email_id, "sender_id": sender_id}
    return await fetch_one(conn, Q.delete_variation, params) is not None


async def count_variations(conn: Conn, email_id: int) -> int:
    return int(await fetch_value(conn, Q.count_variations, {"email_id": email_id}))


async def create_followup_copy(
    conn: Conn, sender_id: int, email_id: int, *, subject: str | None, variation_id: int | None
) -> Row | None:
    """A draft copy of the sender's email with the chosen variation (or its active ones) under
    ``subject`` when given: ``id`` and ``variations`` (copied). None: no such email."""
    return await fetch_one(
        conn,
        Q.create_followup_copy,
        {
            "sender_id": sender_id,
            "email_id": email_id,
            "subject": subject,
            "variation_id": variation_id,
        },
    )
