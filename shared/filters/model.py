"""The filter tree: what a parsed filter is, whichever form (text or JSON) it came in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from shared.errors import Unprocessable

Scalar = str | int | float | bool | None
Number = int | float
Bound = Number | datetime  # what <, <=, >, >= and between compare with

MAX_DEPTH = 16
MAX_NODES = 256
MAX_IN_VALUES = 1000
MAX_KEY_LENGTH = 200
MAX_PATH_LENGTH = 8
MAX_DAYS = 36_500
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Field:
    """A subscriber column (``@locale``), as opposed to a property."""

    name: str


# A property name (top level), a nested path of two or more names, or a subscriber column.
Key = str | tuple[str, ...] | Field

# Columns a filter may read, and what each one compares as.
FIELDS: dict[str, str] = {
    "locale": "text",
    "created_at": "time",
    "state_changed_at": "time",
    "soft_bounces": "number",
}
COMPARISONS = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Eq:
    key: Key
    value: Scalar


@dataclass(frozen=True)
class In:
    key: Key
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Exists:
    key: str | tuple[str, ...]


@dataclass(frozen=True)
class Compare:
    """``key op value`` with op one of <, <=, >, >=, on numbers or on ISO dates and times."""

    key: Key
    op: str
    value: Bound


@dataclass(frozen=True)
class Between:
    """``low <= key <= high`` (both ends included)."""

    key: Key
    low: Bound
    high: Bound


@dataclass(frozen=True)
class Contains:
    """The array at ``key`` has ``value`` as an element."""

    key: str | tuple[str, ...]
    value: Scalar


@dataclass(frozen=True)
class Received:
    """Email ``email_id`` went out to the subscriber and did not bounce."""

    email_id: int


@dataclass(frozen=True)
class Opened:
    """A human opened email ``email_id`` (a human click counts; machine opens do not)."""

    email_id: int


@dataclass(frozen=True)
class Clicked:
    """A human clicked email ``email_id`` (its link ``link`` when given); scanners do not."""

    email_id: int
    link: int | None = None


@dataclass(frozen=True)
class OpenedWithin:
    """Any human open or click in the last ``days`` days."""

    days: int


@dataclass(frozen=True)
class ClickedWithin:
    """Any human click in the last ``days`` days."""

    days: int


@dataclass(frozen=True)
class NeverOpened:
    """No human open or click of anything, ever."""


@dataclass(frozen=True)
class InSegment:
    """The subscriber matches saved segment ``segment_id`` (expanded before compiling)."""

    segment_id: int


@dataclass(frozen=True)
class Not:
    child: Filter


@dataclass(frozen=True)
class And:
    children: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Filter, ...]


Engagement = Received | Opened | Clicked | OpenedWithin | ClickedWithin | NeverOpened
Filter = Eq | In | Exists | Compare | Between | Contains | Engagement | InSegment | Not | And | Or


def walk(f: Filter) -> list[Filter]:
    """Every node of the tree, the root first."""
    out: list[Filter] = []
    stack = [f]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, Not):
            stack.append(node.child)
        elif isinstance(node, And | Or):
            stack.extend(reversed(node.children))
    return out


def uses_engagement(f: Filter | None) -> bool:
    """Whether the filter asks what a subscriber did with mail (refused for anonymous senders)."""
    return f is not None and any(isinstance(n, Engagement) for n in walk(f))


def segments_used(f: Filter | None) -> set[int]:
    return set() if f is None else {n.segment_id for n in walk(f) if isinstance(n, InSegment)}


def check_text(text: str, where: str) -> str:
    """jsonb refuses NUL, and the driver cannot encode a lone surrogate: refuse both here, with a
    client error, rather than let PostgreSQL fail the query."""
    if "\x00" in text:
        raise Unprocessable(f"{where}: NUL characters are not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Unprocessable(f"{where}: invalid Unicode (a lone surrogate)") from None
    return text


def check_name(key: object, where: str) -> str:
    if not isinstance(key, str) or not key:
        raise Unprocessable(f"{where}: a property name must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise Unprocessable(f"{where}: property name longer than {MAX_KEY_LENGTH} characters")
    return check_text(key, where)


def check_path(names: list[Any], where: str) -> str | tuple[str, ...]:
    if not names or len(names) > MAX_PATH_LENGTH:
        raise Unprocessable(f"{where}: a path has 1 to {MAX_PATH_LENGTH} property names")
    checked = tuple(check_name(n, where) for n in names)
    return checked[0] if len(checked) == 1 else checked


def check_field(name: str, where: str) -> Field:
    if name not in FIELDS:
        known = ", ".join("@" + n for n in FIELDS)
        raise Unprocessable(f"{where}: unknown subscriber field @{name} (known: {known})")
    return Field(name)


def check_scalar(value: object, where: str) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):  # NaN and Infinity are not JSON
        raise Unprocessable(f"{where}: {value} is not a JSON number")
    if isinstance(value, str):
        return check_text(value, where)
    if value is None or isinstance(value, bool | int | float):
        return value
    raise Unprocessable(f"{where}: a value must be a string, number, true, false or null")


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 date or date and time; a date or a time without offset is UTC."""
    if not 10 <= len(text) <= 40 or not text[:4].isdigit() or text[4:5] != "-":
        return None
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def check_bound(key: Key, value: object, where: str) -> Bound:
    """A comparison's value: a number, or an ISO date/time given as a string; a subscriber
    field takes the kind it holds."""
    kind = FIELDS[key.name] if isinstance(key, Field) else None
    if isinstance(value, bool) or value is None:
        raise Unprocessable(f"{where}: expected a number or an ISO date/time")
    if isinstance(value, int | float) and kind in (None, "number"):
        checked = check_scalar(value, where)
        assert isinstance(checked, int | float)
        return checked
    if isinstance(value, str) and kind in (None, "time"):
        moment = parse_time(value)
        if moment is None:
            raise Unprocessable(f"{where}: expected an ISO date or date-time, found {value!r}")
        return moment
    if kind == "text":
        raise Unprocessable(f"{where}: @{key.name} can only be compared with = or in")  # type: ignore[union-attr]
    expected = "a number" if kind == "number" else "an ISO date/time string"
    raise Unprocessable(f"{where}: expected {expected}")


def check_equality(key: Key, value: Scalar, where: str) -> Scalar:
    """``=`` and ``in`` on a subscriber field take that field's kind."""
    if not isinstance(key, Field):
        return value
    kind = FIELDS[key.name]
    if kind == "text" and isinstance(value, str):
        return value
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "time":
        raise Unprocessable(f"{where}: compare @{key.name} with <, <=, >, >= or between")
    raise Unprocessable(f"{where}: @{key.name} holds {'text' if kind == 'text' else 'a number'}")


def check_id(value: object, where: str, what: str = "an email id") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Unprocessable(f"{where}: expected {what} (a positive integer)")
    return value


def check_days(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DAYS:
        raise Unprocessable(f"{where}: expected a number of days from 1 to {MAX_DAYS}")
    return value


def check_link(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 32768:
        raise Unprocessable(f"{where}: expected a link number from 0 to 32767")
    return value
