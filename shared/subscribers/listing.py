"""The subscriber list: filters composed with ``psycopg.sql`` (identifiers whitelisted, values
bound) and keyset pagination on (sort column, id), which the (sender_id, created_at, id) and
(sender_id, updated_at, id) indexes serve."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from psycopg import sql
from psycopg.types.json import Jsonb

from shared.db import Conn, Row
from shared.filters import Filter, compile_filter, required_pairs
from shared.segments import service as segments
from shared.subscribers.bits import property_bits

OrderBy = Literal["id", "created_at", "updated_at"]
COLUMNS = sql.SQL(
    "id, address, locale, properties, state, soft_bounces, created_at, updated_at, state_changed_at"
)


@dataclass
class SubscriberQuery:
    """What the list is filtered and sorted by."""

    sender_id: int
    locales: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    contains: dict[str, Any] | None = None
    filter: Filter | None = None  # parsed by shared.filters.parse_filter
    segment_id: int | None = None  # only the members of this saved segment
    address_prefix: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    order_by: OrderBy = "id"
    after: tuple[Any, int] | None = None
    limit: int = 100


def build(q: SubscriberQuery) -> tuple[sql.Composed, dict[str, Any]]:
    """The SELECT for one page (limit + 1 rows, so the caller knows whether more follow)."""
    where: list[sql.Composable] = [sql.SQL("sender_id = %(sender_id)s")]
    params: dict[str, Any] = {"sender_id": q.sender_id, "limit": q.limit + 1}
    if q.locales:
        where.append(sql.SQL("locale = ANY(%(locales)s::text[])"))
        params["locales"] = q.locales
    if q.states:
        where.append(sql.SQL("state = ANY(%(states)s::subscriber_state[])"))
        params["states"] = q.states
    if q.contains:
        where.append(sql.SQL("properties @> %(contains)s"))
        params["contains"] = Jsonb(q.contains)
    if q.filter is not None:
        where.append(sql.SQL("({})").format(compile_filter(q.filter)))
    if q.address_prefix:
        # lower-case addresses; escape LIKE wildcards the client sent
        escaped = q.address_prefix.lower().replace("\\", "\\\\").replace("%", "\\%")
        where.append(sql.SQL("address LIKE %(prefix)s"))
        params["prefix"] = escaped.replace("_", "\\_") + "%"
    for name, op, column in (
        ("created_after", ">=", "created_at"),
        ("created_before", "<", "created_at"),
        ("updated_after", ">=", "updated_at"),
        ("updated_before", "<", "updated_at"),
    ):
        value = getattr(q, name)
        if value is not None:
            where.append(
                sql.SQL("{} {} {}").format(
                    sql.Identifier(column), sql.SQL(op), sql.Placeholder(name)
                )
            )
            params[name] = value
    order = sql.Identifier(q.order_by)
    if q.after is not None:
        value, row_id = q.after
        params["after_id"] = row_id
        if q.order_by == "id":
            where.append(sql.SQL("id > %(after_id)s"))
        else:
            params["after_value"] = value
            where.append(sql.SQL("({}, id) > (%(after_value)s, %(after_id)s)").format(order))
    bits = property_bits({**required_pairs(q.filter), **(q.contains or {})})
    if q.order_by == "id" and bits:
        params["bits"] = bits
        return _by_signature(where, after=q.after is not None), params
    sort = sql.SQL("id") if q.order_by == "id" else sql.SQL("{}, id").format(order)
    query = sql.SQL("SELECT {} FROM subscribers WHERE {} ORDER BY {} LIMIT %(limit)s").format(
        COLUMNS, sql.SQL(" AND ").join(where), sort
    )
    return query, params


# Walk the (sender_id, id) INCLUDE (property_bits) index in id order, alone, and read a row only
# when its signature has every required pair's bit; there the full condition decides (db/0070).
# OFFSET 0 keeps the lookup a per-candidate subquery: merged into a join, the planner picks a hash
# join over the GIN index, which visits every match before it can sort them.
_BY_SIGNATURE = """
SELECT subscriber.* FROM subscribers AS candidate
CROSS JOIN LATERAL (
    SELECT {columns} FROM subscribers WHERE id = candidate.id AND {where} OFFSET 0
) AS subscriber
WHERE candidate.sender_id = %(sender_id)s {after}
  AND candidate.property_bits & %(bits)s = %(bits)s
ORDER BY candidate.id
LIMIT %(limit)s
"""


def _by_signature(where: list[sql.Composable], *, after: bool) -> sql.Composed:
    return sql.SQL(_BY_SIGNATURE).format(
        columns=COLUMNS,
        after=sql.SQL("AND candidate.id > %(after_id)s" if after else ""),
        where=sql.SQL(" AND ").join(where),
    )


async def list_page(conn: Conn, q: SubscriberQuery) -> tuple[list[Row], bool]:
    """One page of rows and whether another page follows."""
    q.filter = await segments.resolve(conn, q.sender_id, q.filter, segment_id=q.segment_id)
    q.segment_id = None
    query, params = build(q)
    cur = await conn.execute(query, params)
    rows: list[Row] = await cur.fetchall()
    return rows[: q.limit], len(rows) > q.limit
