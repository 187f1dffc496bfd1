"""Subscriber storage: single-row CRUD and bulk upsert (listing: ``listing.py``, CSV import:
``imports`` package, GDPR erase: ``shared.privacy``)."""

from __future__ import annotations

import json
from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row, fetch_one, load_queries
from shared.subscribers.bits import property_bits

Q = load_queries(__file__)
BULK_MAX = 10_000


async def get(conn: Conn, sender_id: int, subscriber_id: int) -> Row | None:
    return await fetch_one(conn, Q.get, {"id": subscriber_id, "sender_id": sender_id})


async def get_by_address(conn: Conn, sender_id: int, address: str) -> Row | None:
    return await fetch_one(conn, Q.get_by_address, {"address": address, "sender_id": sender_id})


def _row(sender_id: int, address: str, locale: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "sender_id": sender_id,
        "address": address,
        "locale": locale,
        "properties": Jsonb(properties),
        # computed here: in the database's trigger it is re-planned in every transaction
        "property_bits": property_bits(properties),
    }


async def create(
    conn: Conn, sender_id: int, *, address: str, locale: str, properties: dict[str, Any]
) -> Row:
    row = await fetch_one(
        conn,
        Q.create,
        _row(sender_id, address, locale, properties),
    )
    assert row is not None
    return row


async def upsert(
    conn: Conn,
    sender_id: int,
    *,
    address: str,
    locale: str,
    properties: dict[str, Any],
    consent_source: str = "api",
    consent_ref: str | None = None,
) -> Row:
    """Create or replace by address; the row has ``inserted``. A created subscriber gets a
    ``subscribe`` consent record from ``consent_source`` / ``consent_ref`` (shared/consent)."""
    row = await fetch_one(
        conn,
        Q.upsert,
        {
            **_row(sender_id, address, locale, properties),
            "consent_source": consent_source,
            "consent_ref": consent_ref,
        },
    )
    assert row is not None
    return row


UPDATABLE = ("locale", "properties", "merge", "state")


async def update(
    conn: Conn, sender_id: int, subscriber_id: int, changes: dict[str, Any]
) -> Row | None:
    """Apply the fields present in ``changes``: locale, properties (replace), merge, state."""
    params: dict[str, Any] = {"id": subscriber_id, "sender_id": sender_id}
    for name in UPDATABLE:
        params[f"set_{name}"] = name in changes
        value = changes.get(name)
        params[name] = Jsonb(value) if name in ("properties", "merge") else value
    return await fetch_one(conn, Q.update, params)


async def bulk_upsert(
    conn: Conn,
    sender_id: int,
    rows: list[dict[str, Any]],
    *,
    consent_source: str = "api",
    consent_ref: str | None = None,
) -> tuple[int, int]:
    """Upsert rows of {address, locale, properties} in one statement. Later duplicates of an
    address win. Returns (created, updated); a row sent unchanged counts as updated. Each row
    dict gains its ``property_bits``. Created subscribers get a ``subscribe`` consent record."""
    unique: dict[str, dict[str, Any]] = {}
    for row in rows:
        unique[row["address"].lower()] = row
    for row in unique.values():
        row["property_bits"] = property_bits(row.get("properties") or {})
    payload = json.dumps(list(unique.values()), separators=(",", ":"))
    params = {
        "sender_id": sender_id,
        "rows": payload,
        "consent_source": consent_source,
        "consent_ref": consent_ref,
    }
    result = await fetch_one(conn, Q.bulk_upsert, params)
    assert result is not None
    return result["created"], len(unique) - result["created"]
