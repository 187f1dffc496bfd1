"""Automation rules: what a sequence may hold, and edits that keep everyone's progress.

Services never commit: callers pass a connection inside their transaction."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from shared.automations import repository as repo
from shared.db import Conn, Row
from shared.errors import NotFound, Unprocessable
from shared.segments import service as segments

TRIGGERS = ("subscriber_created", "subscriber_active", "segment_entered", "date_property")
MAX_STEPS = 50
MAX_WAIT_SECONDS = 366 * 86400


@dataclass(frozen=True)
class Step:
    """One step: wait ``wait_seconds``, send ``email_id``, or continue only if in ``segment_id``."""

    kind: str
    wait_seconds: int | None = None
    email_id: int | None = None
    segment_id: int | None = None


async def _check_steps(conn: Conn, sender_id: int, steps: list[Step]) -> list[dict[str, object]]:
    if len(steps) > MAX_STEPS:
        raise Unprocessable(f"steps: at most {MAX_STEPS}")
    rows: list[dict[str, object]] = []
    for i, st in enumerate(steps):
        where = f"steps[{i}]"
        if st.kind == "wait":
            if st.wait_seconds is None or not 60 <= st.wait_seconds <= MAX_WAIT_SECONDS:
                raise Unprocessable(f"{where}: a wait is from one minute to 366 days")
        elif st.kind == "send":
            if st.email_id is None:
                raise Unprocessable(f"{where}: a send step names an email")
        elif st.kind == "condition":
            if st.segment_id is None:
                raise Unprocessable(f"{where}: a condition names a segment")
            await segments.resolve(conn, sender_id, None, segment_id=st.segment_id)
        else:
            raise Unprocessable(f"{where}: kind is wait, send or condition")
        rows.append({"position": i, "kind": st.kind, "wait_seconds": st.wait_seconds,
                     "email_id": st.email_id, "segment_id": st.segment_id})  # fmt: skip
    return rows


async def _write_steps(conn: Conn, sender_id: int, automation_id: int, steps: list[Step]) -> None:
    rows = await _check_steps(conn, sender_id, steps)
    try:
        async with conn.transaction():  # a savepoint: a bad email id is a 404, not a 500
            await repo.replace_steps(conn, sender_id, automation_id, rows)
    except psycopg.errors.ForeignKeyViolation:
        raise NotFound("steps: an email of a send step is not found") from None


async def create(
    conn: Conn,
    sender_id: int,
    *,
    name: str,
    trigger: str,
    segment_id: int | None,
    date_property: str | None,
    steps: list[Step],
    active: bool,
) -> Row:
    """A new sequence. Only subscribers created or activated from now on enter a "created" or
    "active" trigger; a segment trigger takes everyone who matches (now and later)."""
    if trigger not in TRIGGERS:
        raise Unprocessable(f"trigger: one of {', '.join(TRIGGERS)}")
    if (trigger == "segment_entered") != (segment_id is not None):
        raise Unprocessable("segment_id: given with (and only with) the segment_entered trigger")
    if (trigger == "date_property") != bool(date_property):
        raise Unprocessable("date_property: given with (and only with) the date_property trigger")
    if segment_id is not None:
        await segments.resolve(conn, sender_id, None, segment_id=segment_id)
    row = await repo.create(
        conn,
        sender_id,
        name=name,
        trigger=trigger,
        segment_id=segment_id,
        date_property=date_property,
        state="active" if active else "paused",
    )
    await _write_steps(conn, sender_id, row["id"], steps)
    return row


async def get(conn: Conn, sender_id: int, automation_id: int) -> Row:
    row = await repo.get(conn, sender_id, automation_id)
    if row is None:
        raise NotFound("automation not found")
    row["steps"] = await repo.steps(conn, automation_id)
    return row


async def update(
    conn: Conn,
    sender_id: int,
    automation_id: int,
    *,
    name: str | None = None,
    state: str | None = None,
    steps: list[Step] | None = None,
) -> Row:
    """Rename, pause (``state="paused"``), resume (``"active"``) or replace the steps. New steps
    apply to everyone who has not reached them: a subscriber at position 2 runs the new list's
    step 2 next; one past the new last step is done."""
    if state not in (None, "active", "paused"):
        raise Unprocessable("state: active or paused")
    if not await repo.lock(conn, sender_id, automation_id):
        raise NotFound("automation not found")
    if steps is not None:
        await _write_steps(conn, sender_id, automation_id, steps)
    row = await repo.update(conn, sender_id, automation_id, name=name, state=state)
    assert row is not None
    row["steps"] = await repo.steps(conn, automation_id)
    return row


async def delete(conn: Conn, sender_id: int, automation_id: int) -> None:
    if not await repo.delete(conn, sender_id, automation_id):
        raise NotFound("automation not found")


async def statistics(conn: Conn, sender_id: int, automation_id: int) -> dict[str, object]:
    """Per step: waiting there, passed, stopped, left, and a send step's human opens and clicks;
    with the totals per state."""
    await get(conn, sender_id, automation_id)
    return {
        "totals": await repo.totals(conn, automation_id),
        "steps": await repo.step_statistics(conn, automation_id),
    }
