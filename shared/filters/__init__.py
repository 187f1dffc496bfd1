"""The safe filter language used to pick an audience: a campaign's, a segment's, an automation's
and the subscriber lists'.

A filter is a small tree of conditions on a subscriber: its ``properties`` (a jsonb object,
nested paths included), a few of its columns (``@locale``, ``@created_at``,
``@state_changed_at``, ``@soft_bounces``) and what it did with mail. It has a text form for
people and an equivalent JSON form for programs::

    plan = "pro" and (country in ("TR", "DE") or not exists age) and score >= 3
    and address.city = "Paris" and tags contains "vip" and @created_at >= "2024-01-01"
    and opened email 3 and not clicked within 30 days and age between 18 and 30

``parse_filter`` accepts either and returns the tree (shared/filters/model.py); ``to_json`` gives
the JSON form back; ``compile_filter`` turns it into one boolean SQL expression
(shared/filters/compiler.py). A quoted name is always one property (``"address.city" = 1``), an
unquoted dotted name is a path. Engagement conditions count human opens and clicks only.
"""

from __future__ import annotations

from typing import Any

from shared.errors import Unprocessable
from shared.filters.compiler import compile_filter
from shared.filters.jsonform import from_json, to_json
from shared.filters.model import (
    MAX_DEPTH,
    MAX_IN_VALUES,
    MAX_NODES,
    And,
    Between,
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
    NeverOpened,
    Not,
    Opened,
    OpenedWithin,
    Or,
    Received,
    Scalar,
    segments_used,
    uses_engagement,
    walk,
)
from shared.filters.text import Parser

__all__ = [
    "And",
    "Between",
    "Clicked",
    "ClickedWithin",
    "Compare",
    "Contains",
    "Eq",
    "Exists",
    "Field",
    "Filter",
    "In",
    "InSegment",
    "NeverOpened",
    "Not",
    "Opened",
    "OpenedWithin",
    "Or",
    "Received",
    "Scalar",
    "compile_filter",
    "parse_filter",
    "required_pairs",
    "segments_used",
    "to_json",
    "uses_engagement",
]

MAX_TEXT_LENGTH = 20_000


def parse_filter(value: str | dict[str, Any] | None) -> Filter | None:
    """Parse the text or JSON form. ``None`` or blank text means "no filter".

    Raises:
      Unprocessable: with the position (text) or path (JSON) of the first error and what was
        expected there.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        if len(value) > MAX_TEXT_LENGTH:
            raise Unprocessable(f"filter: longer than {MAX_TEXT_LENGTH} characters")
        result = Parser(value).parse()
    elif isinstance(value, dict):
        result = from_json(value, "filter", 0)
    else:
        raise Unprocessable("filter: must be a string or an object")
    _check_size(result)
    return result


def required_pairs(f: Filter | None) -> dict[str, str | bool]:
    """The string and boolean equalities every row the filter selects must have: a top-level
    equality, or one inside top-level conjunctions. ``plan = "pro" and (a or b)`` requires
    ``{"plan": "pro"}``; an equality under ``or`` or ``not`` requires nothing. The list skips
    rows by these (shared/subscribers/bits.py); numbers are left out, as there."""
    if isinstance(f, Eq) and isinstance(f.key, str) and isinstance(f.value, str | bool):
        return {f.key: f.value}
    if isinstance(f, And):
        pairs: dict[str, str | bool] = {}
        for child in f.children:
            for key, value in required_pairs(child).items():
                pairs.setdefault(key, value)  # "a = 1 and a = 2" matches nothing either way
        return pairs
    return {}


def _check_size(f: Filter) -> None:
    count = 0
    for node in walk(f):
        count += 1 + (len(node.values) if isinstance(node, In) else 0)
        if count > MAX_NODES + MAX_IN_VALUES:
            raise Unprocessable("filter: too many terms")
    depth = _depth(f)
    if depth > MAX_DEPTH:
        raise Unprocessable(f"filter: nested deeper than {MAX_DEPTH} levels")


def _depth(f: Filter) -> int:
    deepest = 0
    stack: list[tuple[Filter, int]] = [(f, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, Not):
            stack.append((node.child, depth + 1))
        elif isinstance(node, And | Or):
            stack.extend((c, depth + 1) for c in node.children)
    return deepest
