"""Storage of send events and of the subscriber state changes they cause."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row, execute, fetch_all, fetch_one, fetch_value, load_queries

Q = load_queries(__file__)


async def send_context(conn: Conn, send_id: int) -> Row | None:
    """The send with its email, variation, subscriber and sender (None if it was deleted)."""
    rows = await send_contexts(conn, [send_id])
    return rows[0] if rows else None


async def send_contexts(conn: Conn, send_ids: Sequence[int]) -> list[Row]:
    """``send_context`` for many sends (missing ones are simply absent)."""
    return await fetch_all(conn, Q.send_contexts, {"ids": list(send_ids)})


async def click_sends(conn: Conn, send_ids: Sequence[int]) -> list[Row]:
    """What resolving clicks needs about each send, without body or subscriber (see
    ``click_sends`` in queries.sql); missing sends are absent."""
    return await fetch_all(conn, Q.click_sends, {"ids": list(send_ids)})


async def variations_for_links(conn: Conn, variation_ids: Sequence[int]) -> list[Row]:
    """The subject and body templates of the given variations."""
    return await fetch_all(conn, Q.variations_for_links, {"ids": list(variation_ids)})


async def lock_send(conn: Conn, send_id: int) -> Row | None:
    return await fetch_one(conn, Q.lock_send, {"id": send_id})


async def lock_subscriber(conn: Conn, sender_id: int, subscriber_id: int) -> Row | None:
    return await fetch_one(
        conn, Q.lock_subscriber, {"sender_id": sender_id, "subscriber_id": subscriber_id}
    )


async def unsubscribe_subscriber(conn: Conn, sender_id: int, subscriber_id: int) -> Row | None:
    """The subscriber row when it went from active to unsubscribed, else None."""
    return await fetch_one(
        conn, Q.unsubscribe_subscriber, {"sender_id": sender_id, "subscriber_id": subscriber_id}
    )


async def resubscribe_subscriber(conn: Conn, sender_id: int, subscriber_id: int) -> bool:
    row = await fetch_one(
        conn, Q.resubscribe_subscriber, {"sender_id": sender_id, "subscriber_id": subscriber_id}
    )
    return row is not None


async def mark_send_unsubscribed(conn: Conn, send_id: int) -> None:
    await execute(conn, Q.mark_send_unsubscribed, {"id": send_id})


async def cancel_queued_sends(conn: Conn, sender_id: int, subscriber_id: int) -> int:
    """Cancels the subscriber's queued sends; returns how many."""
    return await execute(
        conn, Q.cancel_queued_sends, {"sender_id": sender_id, "subscriber_id": subscriber_id}
    )


async def insert_event(
    conn: Conn,
    *,
    send_id: int | None,
    email_id: int,
    variation_id: int | None,
    subscriber_id: int | None,
    kind: str,
    ip: str | None,
    user_agent: str | None,
    detail: dict[str, Any] | None,
) -> None:
    await execute(
        conn,
        Q.insert_event,
        {
            "send_id": send_id,
            "email_id": email_id,
            "variation_id": variation_id,
            "subscriber_id": subscriber_id,
            "kind": kind,
            "ip": ip,
            "user_agent": user_agent,
            "detail": Jsonb(detail) if detail is not None else None,
        },
    )


async def claim_batch(conn: Conn, batch_id: uuid.UUID, events: int) -> bool:
    """True the first time a batch id is seen (inside the caller's transaction)."""
    row = await fetch_one(conn, Q.claim_batch, {"id": batch_id, "events": events})
    return row is not None


async def prune_batches(conn: Conn, days: int) -> int:
    return await execute(conn, Q.prune_batches, {"days": days})


async def batch_send_facts(conn: Conn, send_ids: Sequence[int]) -> dict[int, Row]:
    rows = await fetch_all(conn, Q.batch_send_facts, {"ids": list(send_ids)})
    return {row["id"]: row for row in rows}


async def record_batch(conn: Conn, columns: dict[str, list[Any]]) -> Row:
    """Insert a batch (column arrays, see ``record_batch`` in queries.sql) and fold it into
    sends. Returns ``{"inserted": n, "updated": m}``."""
    row = await fetch_one(conn, Q.record_batch, columns)
    assert row is not None
    return row


async def count_recorded_events(conn: Conn, email_ids: Sequence[int]) -> int:
    return int(await fetch_value(conn, Q.count_recorded_events, {"email_ids": list(email_ids)}))
