"""Opaque cursors: base64url of ``[sort value, id]`` of the last row of a page."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from shared.errors import BadRequest
from shared.limits import valid_id

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="`next_cursor` of the previous page."),
]


def encode_cursor(value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, timestamp: bool = False) -> tuple[Any, int] | None:
    """The (sort value, id) a page continues after; 400 for a cursor we did not issue."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, row_id = json.loads(raw)
        if not isinstance(row_id, int) or not valid_id(row_id):
            raise ValueError("bad id")
        if timestamp:
            value = datetime.fromisoformat(value)
        elif value is not None and not isinstance(value, int):
            raise ValueError("bad value")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadRequest("invalid cursor") from None
    return value, row_id


def before_id(cursor: str | None) -> int | None:
    """The id an id-ordered (newest first) listing continues below."""
    after = decode_cursor(cursor)
    return after[1] if after else None


def id_page(rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """A page from ``limit + 1`` rows fetched newest first; the extra row says there is more."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": rows,
        "next_cursor": encode_cursor(None, rows[-1]["id"]) if more and rows else None,
    }
