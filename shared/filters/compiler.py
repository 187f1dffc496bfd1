"""The one SQL compiler of the filter language: a filter becomes one boolean expression over a
``subscribers`` row, used by the API's and admin's lists, segment counts, bulk sends and
automations alike.

Every value is adapted by psycopg, never spliced in as text. Equalities use jsonb containment
(``@>``) so the GIN ``jsonb_path_ops`` index on ``subscribers.properties`` helps. Engagement
reads ``send_engagement`` (db/0090: human opens and clicks only) and, for time windows and links,
the human events in ``send_events``: machine opens and scanner clicks never count.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from shared.filters.model import (
    FIELDS,
    And,
    Between,
    Bound,
    Clicked,
    ClickedWithin,
    Compare,
    Contains,
    Eq,
    Exists,
    Field,
    Filter,
    In,
    InSegment,
    Key,
    NeverOpened,
    Not,
    Opened,
    OpenedWithin,
    Or,
    Received,
    Scalar,
)


def compile_filter(f: Filter, table: str = "subscribers") -> sql.Composed:
    """A boolean SQL expression over the row ``table`` (a ``subscribers`` row or alias; a
    properties-only filter needs only its ``properties`` column).

    Raises:
      ValueError: for a ``segment N`` node, which callers expand first (shared/segments).
    """
    return _Compiler(sql.Identifier(table)).compile(f)


def _dumps(obj: Any) -> str:
    # "%" only occurs inside JSON strings, where "\u0025" means the same character. Without it
    # the literal would read as a placeholder once the expression joins a query with parameters.
    return json.dumps(obj, ensure_ascii=False).replace("%", "\\u0025")


def _jsonb(obj: Any) -> sql.Literal:
    """A jsonb literal adapted by psycopg (quoted and escaped by it, never formatted by us)."""
    return sql.Literal(Jsonb(obj, dumps=_dumps))


def _text(value: str) -> sql.Composed:
    """A text constant that may hold "%": read out of a jsonb literal (folded at plan time)."""
    return sql.SQL("({} ->> 0)").format(_jsonb([value]))


def _bound(value: Bound) -> sql.Literal:
    if isinstance(value, float):
        return sql.Literal(Decimal(repr(value)))
    return sql.Literal(value)


def _nest(key: str | tuple[str, ...], value: Any) -> dict[str, Any]:
    names = (key,) if isinstance(key, str) else key
    for name in reversed(names):
        value = {name: value}
    assert isinstance(value, dict)
    return value


class _Compiler:
    def __init__(self, table: sql.Composable) -> None:
        self.t = table
        self.props = sql.SQL("{}.properties").format(table)

    def column(self, field: Field) -> sql.Composed:
        return sql.SQL("{}.{}").format(self.t, sql.Identifier(field.name))

    def access(self, key: str | tuple[str, ...]) -> sql.Composed:
        """The jsonb value at a property name or path (NULL when absent)."""
        names = (key,) if isinstance(key, str) else key
        steps = [sql.SQL("({} ->> {})").format(_jsonb(list(names)), i) for i in range(len(names))]
        return sql.SQL("({} -> {})").format(self.props, sql.SQL(" -> ").join(steps))

    def ordered(self, key: Key, sample: Bound) -> sql.Composed:
        """The value at ``key`` as a number or a time (NULL when it is not one)."""
        if isinstance(key, Field):
            return self.column(key)
        value = self.access(key)
        if isinstance(sample, int | float):
            return sql.SQL(
                "(CASE WHEN jsonb_typeof({0}) = 'number' THEN ({0})::numeric END)"
            ).format(value)
        return sql.SQL("jsonb_time({})").format(value)

    def equals(self, key: Key, value: Scalar) -> sql.Composed:
        if isinstance(key, Field):
            literal = _text(value) if isinstance(value, str) else sql.Literal(value)
            return (
                sql.SQL("({}::text = {}::text)").format(self.column(key), literal)
                if FIELDS[key.name] == "text"
                else sql.SQL("({} = {})").format(self.column(key), literal)
            )
        return sql.SQL("({} @> {})").format(self.props, _jsonb(_nest(key, value)))

    def compile(self, f: Filter) -> sql.Composed:
        if isinstance(f, Eq):
            return self.equals(f.key, f.value)
        if isinstance(f, In):
            parts = [self.equals(f.key, v) for v in f.values]
            return sql.SQL("({})").format(sql.SQL(" OR ").join(parts))
        if isinstance(f, Exists):
            if isinstance(f.key, str):
                return sql.SQL("({} ? ({} ->> 0))").format(self.props, _jsonb([f.key]))
            return sql.SQL("({} IS NOT NULL)").format(self.access(f.key))
        if isinstance(f, Compare):
            return sql.SQL("({} {} {})").format(
                self.ordered(f.key, f.value), sql.SQL(f.op), _bound(f.value)
            )
        if isinstance(f, Between):
            return sql.SQL("({} BETWEEN {} AND {})").format(
                self.ordered(f.key, f.low), _bound(f.low), _bound(f.high)
            )
        if isinstance(f, Contains):
            return sql.SQL("({} @> {})").format(self.props, _jsonb(_nest(f.key, [f.value])))
        if isinstance(f, Not):
            return sql.SQL("(NOT {})").format(self.compile(f.child))
        if isinstance(f, And):
            merged, rest = _merge_equalities(f.children)
            parts = [self.compile(c) for c in rest]
            if merged:
                parts.insert(0, sql.SQL("{} @> {}").format(self.props, _jsonb(merged)))
            return sql.SQL("({})").format(sql.SQL(" AND ").join(parts))
        if isinstance(f, Or):
            return sql.SQL("({})").format(sql.SQL(" OR ").join(self.compile(c) for c in f.children))
        if isinstance(f, InSegment):
            raise ValueError("segment nodes are expanded before compiling (shared.segments)")
        return self.engagement(f)

    def engagement(self, f: Filter) -> sql.Composed:
        t = self.t
        if isinstance(f, Received):
            return sql.SQL(
                "EXISTS (SELECT 1 FROM sends rx WHERE rx.email_id = {} AND rx.subscriber_id = {}.id"
                " AND rx.state = 'sent' AND rx.bounced_at IS NULL)"
            ).format(sql.Literal(f.email_id), t)
        if isinstance(f, Opened | Clicked) and getattr(f, "link", None) is None:
            column = sql.SQL("opened" if isinstance(f, Opened) else "clicked")
            return sql.SQL(
                "EXISTS (SELECT 1 FROM send_engagement ex WHERE ex.email_id = {}"
                " AND ex.subscriber_id = {}.id AND ex.{})"
            ).format(sql.Literal(f.email_id), t, column)
        if isinstance(f, Clicked):
            return sql.SQL(
                "EXISTS (SELECT 1 FROM send_events ce WHERE ce.email_id = {}"
                " AND ce.subscriber_id = {}.id AND ce.kind = 'click' AND NOT ce.machine"
                " AND ce.link_index = {})"
            ).format(sql.Literal(f.email_id), t, sql.Literal(f.link))
        if isinstance(f, OpenedWithin | ClickedWithin):
            # A human click proves an open (as in send_engagement), so "opened" takes both. Each
            # kind matches the predicate of its partial index, a subscriber's human events by
            # time: send_events_human_engagement (db/0143) for both, send_events_human_clicks
            # (db/0174) for clicks, which a probe then reads without the opens.
            kinds = sql.SQL("IN ('open', 'click')" if isinstance(f, OpenedWithin) else "= 'click'")
            return sql.SQL(
                "EXISTS (SELECT 1 FROM send_events we WHERE we.subscriber_id = {}.id"
                " AND we.kind {} AND NOT we.machine"
                " AND we.at >= now() - make_interval(days => {}))"
            ).format(t, kinds, sql.Literal(f.days))
        assert isinstance(f, NeverOpened)
        return sql.SQL(
            "NOT EXISTS (SELECT 1 FROM send_engagement nx WHERE nx.subscriber_id = {}.id"
            " AND nx.opened)"
        ).format(t)


def _merge_equalities(children: tuple[Filter, ...]) -> tuple[dict[str, Scalar], list[Filter]]:
    """The top-level property equalities of a conjunction as one containment object, and the
    other children.

    ``a = 1 and b = 2`` is ``@> {"a": 1, "b": 2}``: one containment test per row instead of one
    per equality, and a filtered list that walks many rows pays it on every row. A key compared
    twice stays apart, since one object cannot hold it twice."""
    counts: dict[str, int] = {}
    for c in children:
        if isinstance(c, Eq) and isinstance(c.key, str):
            counts[c.key] = counts.get(c.key, 0) + 1

    def merges(c: Filter) -> bool:
        return isinstance(c, Eq) and isinstance(c.key, str) and counts[c.key] == 1

    merged = {c.key: c.value for c in children if isinstance(c, Eq) and merges(c)}
    rest = [c for c in children if not merges(c)]
    return merged, rest  # type: ignore[return-value]
