"""Consent record storage: insert one, insert for many subscribers at once, read a history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row, execute, fetch_all, load_queries

Q = load_queries(__file__)
HISTORY_MAX = 1000


def _params(
    sender_id: int,
    action: str,
    source: str,
    source_ref: str | None,
    ip: str | None,
    user_agent: str | None,
    text_hash: str | None,
    detail: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "sender_id": sender_id,
        "action": action,
        "source": source,
        "source_ref": source_ref,
        "ip": ip,
        "user_agent": user_agent,
        "text_hash": text_hash,
        "detail": None if detail is None else Jsonb(dict(detail)),
    }


async def insert(
    conn: Conn,
    *,
    sender_id: int,
    subscriber_id: int,
    action: str,
    source: str,
    source_ref: str | None,
    ip: str | None,
    user_agent: str | None,
    text_hash: str | None,
    detail: Mapping[str, Any] | None,
) -> None:
    params = _params(sender_id, action, source, source_ref, ip, user_agent, text_hash, detail)
    await execute(conn, Q.insert, {**params, "subscriber_id": subscriber_id})


async def insert_many(
    conn: Conn,
    *,
    sender_id: int,
    subscriber_ids: Sequence[int],
    action: str,
    source: str,
    source_ref: str | None,
    ip: str | None,
    user_agent: str | None,
    text_hash: str | None,
    detail: Mapping[str, Any] | None,
) -> int:
    """Returns how many records were written (ids of other senders are skipped)."""
    params = _params(sender_id, action, source, source_ref, ip, user_agent, text_hash, detail)
    return await execute(conn, Q.insert_many, {**params, "subscriber_ids": list(subscriber_ids)})


async def history(
    conn: Conn, sender_id: int, subscriber_id: int, *, limit: int = HISTORY_MAX
) -> list[Row]:
    return await fetch_all(
        conn, Q.history, {"sender_id": sender_id, "subscriber_id": subscriber_id, "limit": limit}
    )


async def by_address_hash(
    conn: Conn, sender_id: int, address_hash: bytes, *, limit: int = HISTORY_MAX
) -> list[Row]:
    return await fetch_all(
        conn,
        Q.by_address_hash,
        {"sender_id": sender_id, "address_hash": address_hash, "limit": limit},
    )
