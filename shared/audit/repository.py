"""The audit log: who changed what through the admin or the API, when and from where
(append-only; db/0162_audit_log.sql)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row, execute, fetch_all, load_queries

Q = load_queries(__file__)
MAX_USER_AGENT = 300


@dataclass
class Entry:
    """One change, before it is written."""

    actor_kind: str  # admin, api_key
    actor_id: int
    actor_label: str
    action: str  # "PATCH /v1/sender"
    sender_id: int | None = None
    target: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None
    user_agent: str | None = None
    before: Any = None
    after: Any = None


async def record(conn: Conn, entry: Entry) -> None:
    await execute(
        conn,
        Q.record,
        {
            "actor_kind": entry.actor_kind,
            "actor_id": entry.actor_id,
            "actor_label": entry.actor_label[:320],
            "sender_id": entry.sender_id,
            "action": entry.action[:300],
            "target": Jsonb(entry.target),
            "ip": entry.ip,
            "user_agent": (entry.user_agent or "")[:MAX_USER_AGENT] or None,
            "before": None if entry.before is None else Jsonb(entry.before),
            "after": None if entry.after is None else Jsonb(entry.after),
        },
    )


@dataclass(frozen=True)
class Filters:
    """The audit page's filters (each optional)."""

    actor: str | None = None
    sender_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def search(
    conn: Conn, filters: Filters, *, before_id: int | None = None, limit: int = 100
) -> list[Row]:
    return await fetch_all(
        conn,
        Q.search,
        {
            "actor": filters.actor,
            "sender_id": filters.sender_id,
            "action": filters.action,
            "since": filters.since,
            "until": filters.until,
            "before_id": before_id,
            "limit": limit,
        },
    )


async def search_all(conn: Conn, filters: Filters, page: int = 1000) -> AsyncIterator[Row]:
    """Every matching entry, newest first, a page at a time (the CSV export)."""
    before_id = None
    while True:
        rows = await search(conn, filters, before_id=before_id, limit=page)
        for row in rows:
            yield row
        if len(rows) < page:
            return
        before_id = rows[-1]["id"]
