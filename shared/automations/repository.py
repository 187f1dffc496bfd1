"""Automation storage: sequences, their steps, everyone's progress, and the engine's set-based
statements (each one moves many subscribers at once)."""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from shared.db import Conn, Row, execute, fetch_all, fetch_one, load_queries
from shared.filters import Filter, compile_filter

Q = load_queries(__file__)


async def create(conn: Conn, sender_id: int, **values: Any) -> Row:
    row = await fetch_one(conn, Q.create, {"sender_id": sender_id, **values})
    assert row is not None
    return row


async def get(conn: Conn, sender_id: int, automation_id: int) -> Row | None:
    return await fetch_one(conn, Q.get, {"sender_id": sender_id, "id": automation_id})


async def lock(conn: Conn, sender_id: int, automation_id: int) -> bool:
    return await fetch_one(conn, Q.lock, {"sender_id": sender_id, "id": automation_id}) is not None


async def list_page(conn: Conn, sender_id: int, *, before_id: int | None, limit: int) -> list[Row]:
    params = {"sender_id": sender_id, "before_id": before_id, "limit": limit}
    return await fetch_all(conn, Q.list, params)


async def update(
    conn: Conn, sender_id: int, automation_id: int, *, name: str | None, state: str | None
) -> Row | None:
    params = {"sender_id": sender_id, "id": automation_id, "name": name, "state": state}
    return await fetch_one(conn, Q.update, params)


async def delete(conn: Conn, sender_id: int, automation_id: int) -> bool:
    params = {"sender_id": sender_id, "id": automation_id}
    return await fetch_one(conn, Q.delete, params) is not None


async def steps(conn: Conn, automation_id: int) -> list[Row]:
    return await fetch_all(conn, Q.steps, {"automation_id": automation_id})


async def replace_steps(
    conn: Conn, sender_id: int, automation_id: int, rows: list[dict[str, Any]]
) -> None:
    await execute(conn, Q.delete_steps, {"automation_id": automation_id})
    if rows:
        params = {"automation_id": automation_id, "sender_id": sender_id, "rows": Jsonb(rows)}
        await execute(conn, Q.insert_steps, params)


async def using_segment(conn: Conn, sender_id: int, segment_id: int) -> list[Row]:
    return await fetch_all(
        conn, Q.using_segment, {"sender_id": sender_id, "segment_id": segment_id}
    )


async def step_statistics(conn: Conn, automation_id: int) -> list[Row]:
    return await fetch_all(conn, Q.step_statistics, {"automation_id": automation_id})


async def totals(conn: Conn, automation_id: int) -> dict[str, int]:
    rows = await fetch_all(conn, Q.totals, {"automation_id": automation_id})
    return {row["state"]: int(row["n"]) for row in rows}


async def progress_page(
    conn: Conn, automation_id: int, *, state: str | None, after_id: int, limit: int
) -> list[Row]:
    params = {"automation_id": automation_id, "state": state, "after_id": after_id, "limit": limit}
    return await fetch_all(conn, Q.progress_page, params)


# --- the engine's statements ---------------------------------------------------------------


async def runnable(conn: Conn) -> list[Row]:
    return await fetch_all(conn, Q.runnable)


async def hold(conn: Conn, automation_id: int) -> Row | None:
    return await fetch_one(conn, Q.hold, {"automation_id": automation_id})


async def _count(conn: Conn, query: Any, params: dict[str, Any], column: str) -> int:
    row = await fetch_one(conn, query, params)
    return int(row[column]) if row else 0


# Per newcomer trigger: the time that orders its newcomers, and who may enter.
_NEWCOMERS = {
    "subscriber_created": (sql.Identifier("created_at"), sql.SQL("true")),
    "subscriber_active": (sql.Identifier("state_changed_at"), sql.SQL("s.state = 'active'")),
}


async def enter_new(conn: Conn, automation_id: int, trigger: str, limit: int) -> tuple[int, bool]:
    """One chunk of subscribers created (or activated) since the checkpoint enter. Returns how
    many entered and whether more may be waiting (the chunk was full)."""
    at, active = _NEWCOMERS[trigger]
    since = await fetch_one(conn, Q.open_transactions_since, {})
    assert since is not None
    params = {"automation_id": automation_id, "limit": limit, "open_since": since["at"]}
    row = await _composed(
        conn, Q.enter_newcomers, params, at=at, active=active, trigger=sql.Literal(trigger)
    )
    return int(row["entered"]), bool(row["more"])


async def _composed(conn: Conn, query: Any, params: dict[str, Any], **parts: sql.Composable) -> Row:
    """The one row of a statement whose ``{name}`` parts are filled in with ``parts``."""
    cur = await conn.execute(sql.SQL(query.sql).format(**parts), params)
    row: Row | None = await cur.fetchone()
    assert row is not None
    return row


async def enter_segment(conn: Conn, automation_id: int, sender_id: int, f: Filter) -> int:
    params = {"automation_id": automation_id, "sender_id": sender_id}
    row = await _composed(conn, Q.enter_segment, params, filter=compile_filter(f, "s"))
    return int(row["entered"])


async def enter_dates(
    conn: Conn, automation_id: int, sender_id: int, prop: str, today: date
) -> int:
    params = {"automation_id": automation_id, "sender_id": sender_id, "property": prop,
              "today": today}  # fmt: skip
    return await _count(conn, Q.enter_dates, params, "entered")


async def entry_tried(conn: Conn, automation_id: int, today: date | None) -> None:
    await execute(conn, Q.entry_tried, {"automation_id": automation_id, "today": today})


async def advance_wait(
    conn: Conn, automation_id: int, position: int, wait_seconds: int, limit: int
) -> int:
    params = {"automation_id": automation_id, "position": position,
              "wait_seconds": wait_seconds, "limit": limit}  # fmt: skip
    return await _count(conn, Q.advance_wait, params, "moved")


async def advance_send(
    conn: Conn,
    automation_id: int,
    position: int,
    *,
    sender_id: int,
    email_id: int,
    limit: int,
    batch_size: int,
) -> Row:
    params = {"automation_id": automation_id, "position": position, "sender_id": sender_id,
              "email_id": email_id, "limit": limit, "batch_size": batch_size}  # fmt: skip
    row = await fetch_one(conn, Q.advance_send, params)
    assert row is not None
    return row


async def advance_condition(
    conn: Conn, automation_id: int, position: int, f: Filter, limit: int
) -> int:
    params = {"automation_id": automation_id, "position": position, "limit": limit}
    row = await _composed(conn, Q.advance_condition, params, filter=compile_filter(f, "s"))
    return int(row["moved"])


async def finish(conn: Conn, automation_id: int, steps: int) -> int:
    params = {"automation_id": automation_id, "steps": steps}
    return await _count(conn, Q.finish, params, "done")


async def leave_inactive(conn: Conn) -> int:
    return await _count(conn, Q.leave_inactive, {}, "n")
