"""The JSON form of the filter language (what programs send and ``campaigns.filter`` stores).

A key is a property name (``"plan"``), a nested path (``["address", "city"]``) or a subscriber
field (``"@created_at"``); a property whose name starts with "@" is written as a path
(``["@home"]``)::

    {"and": [{"opened": 3}, {"not": {"clicked_within": 30}}, {"eq": ["plan", "pro"]},
             {"between": [["stats", "score"], 1, 5]}, {"ge": ["@created_at", "2024-01-01"]}]}
"""

from __future__ import annotations

from typing import Any

from shared.errors import Unprocessable
from shared.filters.model import (
    MAX_DEPTH,
    MAX_IN_VALUES,
    MAX_NODES,
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
    check_bound,
    check_days,
    check_equality,
    check_field,
    check_id,
    check_link,
    check_name,
    check_path,
    check_scalar,
)

_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_COMPARE_NAMES = {v: k for k, v in _COMPARE.items()}
OPERATORS = (
    "and, or, not, eq, in, exists, lt, le, gt, ge, between, contains, received, opened, "
    "clicked, opened_within, clicked_within, never_opened, segment"
)


def key_to_json(key: Key) -> str | list[str]:
    if isinstance(key, Field):
        return "@" + key.name
    if isinstance(key, tuple) or key.startswith("@"):
        return list(key) if isinstance(key, tuple) else [key]  # ["@x"] is a property, "@x" a field
    return key


def _bound_to_json(value: Bound) -> Any:
    return value if isinstance(value, int | float) else value.isoformat()


def to_json(f: Filter) -> dict[str, Any]:
    """The JSON form of a filter; ``from_json(to_json(f)) == f``."""
    if isinstance(f, Eq):
        return {"eq": [key_to_json(f.key), f.value]}
    if isinstance(f, In):
        return {"in": [key_to_json(f.key), list(f.values)]}
    if isinstance(f, Exists):
        return {"exists": key_to_json(f.key)}
    if isinstance(f, Compare):
        return {_COMPARE_NAMES[f.op]: [key_to_json(f.key), _bound_to_json(f.value)]}
    if isinstance(f, Between):
        key = key_to_json(f.key)
        return {"between": [key, _bound_to_json(f.low), _bound_to_json(f.high)]}
    if isinstance(f, Contains):
        return {"contains": [key_to_json(f.key), f.value]}
    if isinstance(f, Received):
        return {"received": f.email_id}
    if isinstance(f, Opened):
        return {"opened": f.email_id}
    if isinstance(f, Clicked):
        return {"clicked": f.email_id if f.link is None else [f.email_id, f.link]}
    if isinstance(f, OpenedWithin):
        return {"opened_within": f.days}
    if isinstance(f, ClickedWithin):
        return {"clicked_within": f.days}
    if isinstance(f, NeverOpened):
        return {"never_opened": True}
    if isinstance(f, InSegment):
        return {"segment": f.segment_id}
    if isinstance(f, Not):
        return {"not": to_json(f.child)}
    if isinstance(f, And):
        return {"and": [to_json(c) for c in f.children]}
    return {"or": [to_json(c) for c in f.children]}


def _key(value: object, where: str, *, fields: bool = True) -> Key:
    if isinstance(value, list):
        return check_path(value, where)
    if isinstance(value, str) and value.startswith("@"):
        if not fields:
            raise Unprocessable(f"{where}: expected a property name or path, not a @field")
        return check_field(value[1:], where)
    return check_name(value, where)


def _property(value: object, where: str) -> str | tuple[str, ...]:
    key = _key(value, where, fields=False)
    assert not isinstance(key, Field)
    return key


def _pair(arg: object, where: str, shape: str, size: int = 2) -> list[Any]:
    if not isinstance(arg, list) or len(arg) != size:
        raise Unprocessable(f"{where}: expected {shape}")
    return arg


def from_json(node: object, where: str, depth: int) -> Filter:
    if depth >= MAX_DEPTH:
        raise Unprocessable(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict) or len(node) != 1:
        raise Unprocessable(f"{where}: expected an object with one of {OPERATORS}")
    ((op, arg),) = node.items()
    at = f"{where}.{op}"
    if op in ("and", "or"):
        if not isinstance(arg, list) or not arg:
            raise Unprocessable(f"{at}: expected a non-empty list")
        if len(arg) > MAX_NODES:
            raise Unprocessable(f"{at}: too many terms")
        children = tuple(from_json(c, f"{at}[{i}]", depth + 1) for i, c in enumerate(arg))
        return And(children) if op == "and" else Or(children)
    if op == "not":
        return Not(from_json(arg, at, depth + 1))
    if op == "exists":
        return Exists(_property(arg, at))
    if op == "eq":
        key_value = _pair(arg, at, "[property, value]")
        key = _key(key_value[0], at)
        return Eq(key, check_equality(key, check_scalar(key_value[1], at), at))
    if op == "in":
        key_values = _pair(arg, at, "[property, [values...]]")
        if not isinstance(key_values[1], list):
            raise Unprocessable(f"{at}: expected [property, [values...]]")
        if not key_values[1] or len(key_values[1]) > MAX_IN_VALUES:
            raise Unprocessable(f"{at}: expected 1 to {MAX_IN_VALUES} values")
        key = _key(key_values[0], at)
        values = tuple(check_equality(key, check_scalar(v, at), at) for v in key_values[1])
        return In(key, values)
    if op in _COMPARE:
        key_value = _pair(arg, at, "[property, number or ISO date]")
        key = _key(key_value[0], at)
        return Compare(key, _COMPARE[op], check_bound(key, key_value[1], at))
    if op == "between":
        parts = _pair(arg, at, "[property, low, high]", 3)
        key = _key(parts[0], at)
        return Between(key, check_bound(key, parts[1], at), check_bound(key, parts[2], at))
    if op == "contains":
        key_value = _pair(arg, at, "[property, value]")
        return Contains(_property(key_value[0], at), check_scalar(key_value[1], at))
    return _engagement(op, arg, at, where)


def _engagement(op: str, arg: object, at: str, where: str) -> Filter:
    if op == "received":
        return Received(check_id(arg, at))
    if op == "opened":
        return Opened(check_id(arg, at))
    if op == "clicked":
        if isinstance(arg, list):
            email_link = _pair(arg, at, "an email id or [email id, link number]")
            return Clicked(check_id(email_link[0], at), check_link(email_link[1], at))
        return Clicked(check_id(arg, at))
    if op == "opened_within":
        return OpenedWithin(check_days(arg, at))
    if op == "clicked_within":
        return ClickedWithin(check_days(arg, at))
    if op == "never_opened":
        if arg is not True:
            raise Unprocessable(f"{at}: expected true")
        return NeverOpened()
    if op == "segment":
        return InSegment(check_id(arg, at, "a segment id"))
    raise Unprocessable(f"{where}: unknown operator {op!r} (known: {OPERATORS})")
