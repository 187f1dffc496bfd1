"""Campaign storage: emails and variations as the sender sees them, audience queries with a
composed filter, the dispatch checkpoint, A/B results and progress."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from shared.db import Conn, Row, execute, fetch_all, fetch_one, load_queries
from shared.filters import Filter, compile_filter

Q = load_queries(__file__)


def _with_filter(query: Any, f: Filter | None) -> sql.Composed:
    """The named query with ``{filter}`` replaced by the compiled filter (or TRUE)."""
    expr: sql.Composable = sql.SQL("TRUE") if f is None else compile_filter(f, "s")
    return sql.SQL(query.sql).format(filter=expr)


async def get_email(conn: Conn, sender_id: int, email_id: int, *, lock: bool = False) -> Row | None:
    query = Q.get_email_for_update if lock else Q.get_email
    return await fetch_one(conn, query, {"sender_id": sender_id, "email_id": email_id})


async def set_email_state(conn: Conn, sender_id: int, email_id: int, state: str) -> Row | None:
    params = {"sender_id": sender_id, "email_id": email_id, "state": state}
    return await fetch_one(conn, Q.set_email_state, params)


async def active_variations(conn: Conn, email_id: int) -> list[Row]:
    return await fetch_all(conn, Q.active_variations, {"email_id": email_id})


async def get_variation(
    conn: Conn, sender_id: int, variation_id: int, *, email_id: int | None = None
) -> Row | None:
    params = {"sender_id": sender_id, "email_id": email_id, "variation_id": variation_id}
    return await fetch_one(conn, Q.get_variation, params)


async def open_campaign(conn: Conn, sender_id: int, email_id: int) -> Row | None:
    params = {"sender_id": sender_id, "email_id": email_id}
    return await fetch_one(conn, Q.open_campaign_for_email, params)


async def last_campaign(conn: Conn, sender_id: int, email_id: int) -> Row | None:
    params = {"sender_id": sender_id, "email_id": email_id}
    return await fetch_one(conn, Q.last_campaign_for_email, params)


async def create_campaign(conn: Conn, **values: Any) -> Row:
    values["contains"] = Jsonb(values["contains"] or {})
    values["filter"] = None if values["filter"] is None else Jsonb(values["filter"])
    row = await fetch_one(conn, Q.create_campaign, values)
    assert row is not None
    return row


async def get_campaign_for_update(conn: Conn, campaign_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_campaign_for_update, {"campaign_id": campaign_id})


async def set_campaign_state(conn: Conn, campaign_id: int, state: str) -> Row | None:
    params = {"campaign_id": campaign_id, "state": state}
    return await fetch_one(conn, Q.set_campaign_state, params)


async def count_audience(
    conn: Conn,
    *,
    sender_id: int,
    email_id: int,
    locales: list[str],
    contains: dict[str, Any],
    filter: Filter | None,
) -> list[Row]:
    params = {
        "sender_id": sender_id,
        "email_id": email_id,
        "locales": locales,
        "contains": Jsonb(contains),
    }
    cur = await conn.execute(_with_filter(Q.count_audience, filter), params)
    rows: list[Row] = await cur.fetchall()
    return rows


async def dispatch_chunk(
    conn: Conn,
    campaign: Row,
    filter: Filter | None,
    *,
    limit: int,
) -> Row:
    """Insert the next chunk of send rows after the campaign's checkpoint."""
    params = {
        "sender_id": campaign["sender_id"],
        "email_id": campaign["email_id"],
        "campaign_id": campaign["id"],
        "locales": list(campaign["locales"] or []),
        "contains": Jsonb(campaign["contains"] or {}),
        # Before the first chunk the checkpoint is the start of time.
        "cursor_updated_at": campaign["cursor_updated_at"] or "-infinity",
        "cursor_id": campaign["cursor_id"] or 0,
        "limit": limit,
        "offset": campaign["queued_count"],
        "share": campaign["ab_test_share"] if campaign["winner_variation_id"] is None else None,
    }
    cur = await conn.execute(_with_filter(Q.dispatch_chunk, filter), params)
    row: Row | None = await cur.fetchone()
    assert row is not None
    return row


async def dispatch_async_commit(conn: Conn) -> None:
    """This transaction commits without waiting for the WAL flush (see queries.sql)."""
    await execute(conn, Q.dispatch_async_commit)


async def advance_checkpoint(conn: Conn, campaign_id: int, chunk: Row) -> None:
    await execute(
        conn,
        Q.advance_checkpoint,
        {
            "campaign_id": campaign_id,
            "cursor_updated_at": chunk["cursor_updated_at"],
            "cursor_id": chunk["cursor_id"],
            "inserted": chunk["inserted"],
        },
    )


async def ready_ranges(conn: Conn, campaign_id: int, batch_size: int) -> list[Row]:
    params = {"campaign_id": campaign_id, "batch_size": batch_size}
    return await fetch_all(conn, Q.ready_ranges, params)


async def email_ready_ranges(
    conn: Conn, sender_id: int, email_id: int, batch_size: int
) -> list[Row]:
    params = {"sender_id": sender_id, "email_id": email_id, "batch_size": batch_size}
    return await fetch_all(conn, Q.email_ready_ranges, params)


async def variation_results(conn: Conn, campaign_id: int, email_id: int) -> list[Row]:
    params = {"campaign_id": campaign_id, "email_id": email_id}
    return await fetch_all(conn, Q.variation_results, params)


async def release_held(conn: Conn, campaign_id: int, variation_id: int) -> int:
    params = {"campaign_id": campaign_id, "variation_id": variation_id}
    return await execute(conn, Q.release_held, params)


async def cancel_held(conn: Conn, campaign_id: int) -> int:
    return await execute(conn, Q.cancel_held, {"campaign_id": campaign_id})


async def ab_settings(conn: Conn, campaign_id: int) -> Row | None:
    return await fetch_one(conn, Q.ab_settings, {"campaign_id": campaign_id})


async def last_ab_campaign(conn: Conn, sender_id: int, email_id: int) -> Row | None:
    params = {"sender_id": sender_id, "email_id": email_id}
    return await fetch_one(conn, Q.last_ab_campaign, params)


async def record_winner(
    conn: Conn, campaign_id: int, variation_id: int, reason: str, result: dict[str, Any]
) -> Row | None:
    params = {
        "campaign_id": campaign_id,
        "variation_id": variation_id,
        "reason": reason,
        "result": Jsonb(result),
    }
    return await fetch_one(conn, Q.record_winner, params)


async def cancel_queued(conn: Conn, sender_id: int, email_id: int) -> int:
    return await execute(conn, Q.cancel_queued, {"sender_id": sender_id, "email_id": email_id})


async def requeue_failed(conn: Conn, sender_id: int, email_id: int) -> int:
    rows = await fetch_all(conn, Q.requeue_failed, {"sender_id": sender_id, "email_id": email_id})
    return len(rows)


async def progress(conn: Conn, sender_id: int, email_id: int) -> Row | None:
    return await fetch_one(conn, Q.progress, {"sender_id": sender_id, "email_id": email_id})


async def find_subscriber(
    conn: Conn, sender_id: int, subscriber_id: int | None, address: str | None
) -> Row | None:
    params = {"sender_id": sender_id, "subscriber_id": subscriber_id, "address": address}
    return await fetch_one(conn, Q.find_subscriber, params)


async def insert_single_send(
    conn: Conn, sender_id: int, email_id: int, subscriber_id: int
) -> Row | None:
    params = {"sender_id": sender_id, "email_id": email_id, "subscriber_id": subscriber_id}
    return await fetch_one(conn, Q.insert_single_send, params)


async def due_campaigns(conn: Conn) -> list[Row]:
    return await fetch_all(conn, Q.due_campaigns)


async def testing_due(conn: Conn) -> list[Row]:
    return await fetch_all(conn, Q.testing_due)


async def finish_done_campaigns(conn: Conn) -> list[Row]:
    return await fetch_all(conn, Q.finish_done_campaigns)


async def stalled_dispatches(conn: Conn, age_seconds: float) -> list[Row]:
    return await fetch_all(conn, Q.stalled_dispatches, {"age_seconds": age_seconds})


async def guard_pause(conn: Conn, send_ids: list[int], interval_s: float) -> list[Row]:
    """Pause the running campaigns of these sends' emails whose bounce or complaint rate
    crosses their sender's threshold (``guard_pause`` in queries.sql).

    Returns:
      one row per paused campaign (campaign_id, email_id, sender_id, reason, paused_reason,
      sent, bounced, complained, delivery_id of its campaign_paused webhook or None).
    """
    if not send_ids:
        return []
    return await fetch_all(
        conn, Q.guard_pause, {"send_ids": sorted(set(send_ids)), "interval_s": interval_s}
    )


async def sending_health(conn: Conn, stuck_after_s: float) -> Row:
    """{"oldest_queued_seconds", "stuck_campaigns"} for the scheduler's gauges."""
    row = await fetch_one(conn, Q.sending_health, {"stuck_after_s": stuck_after_s})
    assert row is not None
    return row
