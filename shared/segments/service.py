"""Segment rules: what a stored segment may hold, and the expansion every user of the filter
language goes through before compiling (lists, counts, bulk sends, automations).

``resolve`` is the one place that turns ``segment N`` into that segment's filter (the sender's
own only: another sender's segment is "not found") and that refuses engagement conditions for a
sender that counts events anonymously (shared/events/service.py: such a sender keeps no record of
what one person did with a message, so it cannot pick people by it either)."""

from __future__ import annotations

from typing import Any

from shared.automations import repository as automations
from shared.db import Conn, Row
from shared.errors import Conflict, NotFound, Unprocessable
from shared.filters import (
    And,
    Filter,
    In,
    InSegment,
    Not,
    Or,
    parse_filter,
    segments_used,
    to_json,
)
from shared.filters import uses_engagement as _uses_engagement
from shared.segments import repository as repo

MAX_SEGMENT_DEPTH = 8
MAX_EXPANDED_NODES = 5_000  # segments naming segments many times over must not blow up a query


async def resolve(
    conn: Conn, sender_id: int, f: Filter | None, *, segment_id: int | None = None
) -> Filter | None:
    """The filter with every ``segment N`` replaced by that segment's filter, and ANDed with
    segment ``segment_id`` when given.

    Raises:
      NotFound: a named segment is not the sender's.
      Unprocessable: segments name each other in a loop, or engagement for an anonymous sender.
    """
    if segment_id is not None:
        seg: Filter = InSegment(segment_id)
        f = seg if f is None else And((f, seg))
    if f is None:
        return None
    expanded = await _expand(conn, sender_id, f, {}, (), [MAX_EXPANDED_NODES])
    if _uses_engagement(expanded) and await repo.anonymous_events(conn, sender_id):
        raise Unprocessable(
            "filter: this sender counts events anonymously, so it cannot select subscribers "
            "by what they opened or clicked"
        )
    return expanded


async def _expand(
    conn: Conn,
    sender_id: int,
    f: Filter,
    cache: dict[int, Filter],
    trail: tuple[int, ...],
    budget: list[int],
) -> Filter:
    missing = [i for i in segments_used(f) if i not in cache]
    if missing:
        found = await repo.get_many(conn, sender_id, missing)
        for i in missing:
            if i not in found:
                raise NotFound(f"segment {i} not found")
            parsed = parse_filter(found[i])
            assert parsed is not None
            cache[i] = parsed
    return await _replace(conn, sender_id, f, cache, trail, budget)


async def _replace(
    conn: Conn,
    sender_id: int,
    f: Filter,
    cache: dict[int, Filter],
    trail: tuple[int, ...],
    budget: list[int],
) -> Filter:
    budget[0] -= 1 + (len(f.values) if isinstance(f, In) else 0)
    if budget[0] < 0:
        raise Unprocessable(f"filter: more than {MAX_EXPANDED_NODES} terms once segments expand")
    if isinstance(f, InSegment):
        if f.segment_id in trail:
            raise Unprocessable(f"filter: segment {f.segment_id} includes itself")
        if len(trail) >= MAX_SEGMENT_DEPTH:
            raise Unprocessable(f"filter: segments nested deeper than {MAX_SEGMENT_DEPTH}")
        inner = cache[f.segment_id]
        return await _expand(conn, sender_id, inner, cache, (*trail, f.segment_id), budget)
    if isinstance(f, Not):
        return Not(await _replace(conn, sender_id, f.child, cache, trail, budget))
    if isinstance(f, And | Or):
        children = tuple(
            [await _replace(conn, sender_id, c, cache, trail, budget) for c in f.children]
        )
        return And(children) if isinstance(f, And) else Or(children)
    return f


async def _checked(
    conn: Conn, sender_id: int, filter: str | dict[str, Any], own: int | None
) -> Filter:
    parsed = parse_filter(filter)
    if parsed is None:
        raise Unprocessable("filter: a segment needs a filter")
    trail = () if own is None else (own,)
    await _expand(conn, sender_id, parsed, {}, trail, [MAX_EXPANDED_NODES])  # exist, no loop
    await resolve(conn, sender_id, parsed)  # engagement allowed for this sender
    return parsed


async def create(conn: Conn, sender_id: int, name: str, filter: str | dict[str, Any]) -> Row:
    parsed = await _checked(conn, sender_id, filter, None)
    return await repo.create(conn, sender_id, name, to_json(parsed), _typed(filter))


def _typed(filter: str | dict[str, Any]) -> str | None:
    """The text form as given, kept to show back; None for the JSON form."""
    return filter.strip() if isinstance(filter, str) else None


async def update(
    conn: Conn,
    sender_id: int,
    segment_id: int,
    *,
    name: str | None,
    filter: str | dict[str, Any] | None,
) -> Row:
    stored = None
    if filter is not None:
        stored = to_json(await _checked(conn, sender_id, filter, segment_id))
    text = None if filter is None else _typed(filter)
    row = await repo.update(conn, sender_id, segment_id, name=name, filter=stored, filter_text=text)
    if row is None:
        raise NotFound("segment not found")
    return row


async def delete(conn: Conn, sender_id: int, segment_id: int) -> None:
    users = await repo.referencing(conn, sender_id, segment_id)
    if users:
        names = ", ".join(f"{r['id']} ({r['name']})" for r in users)
        raise Conflict(f"segment {segment_id} is used by segment {names}")
    sequences = await automations.using_segment(conn, sender_id, segment_id)
    if sequences:
        names = ", ".join(f"{r['id']} ({r['name']})" for r in sequences)
        raise Conflict(f"segment {segment_id} is used by automation {names}")
    if not await repo.delete(conn, sender_id, segment_id):
        raise NotFound("segment not found")


async def get(conn: Conn, sender_id: int, segment_id: int) -> Row:
    row = await repo.get(conn, sender_id, segment_id)
    if row is None:
        raise NotFound("segment not found")
    return row


async def count(conn: Conn, sender_id: int, segment_id: int) -> int:
    """The live count: active subscribers who match the segment now."""
    f = await resolve(conn, sender_id, None, segment_id=segment_id)
    assert f is not None
    return await repo.count(conn, sender_id, f)
