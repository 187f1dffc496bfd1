"""Raw inbound messages: stored once by content hash, then parsed, failed or quarantined."""

from __future__ import annotations

import hashlib
from datetime import datetime

from shared.db import Conn, Row, execute, fetch_all, fetch_one, load_queries

Q = load_queries(__file__)
RAW_PREVIEW_BYTES = 256 * 1024


async def store_raw(
    conn: Conn, raw: bytes, *, source: str, envelope_to: str | None, max_bytes: int
) -> Row:
    """Store ``raw`` unless an identical message is already stored.

    A message over ``max_bytes`` is kept truncated, marked 'oversize' and never parsed.

    Returns:
      {"id", "state", "inserted"}: inserted is False for a duplicate.
    """
    oversize = len(raw) > max_bytes
    row = await fetch_one(
        conn,
        Q.store_raw,
        {
            "sha256": hashlib.sha256(raw).digest(),
            "raw": raw[:max_bytes] if oversize else raw,
            "size": len(raw),
            "source": source[:200],
            "envelope_to": (envelope_to or None) and envelope_to[:320],
            "state": "oversize" if oversize else "stored",
            "error": f"message of {len(raw)} bytes over the {max_bytes} limit"
            if oversize
            else None,
        },
    )
    assert row is not None
    return row


async def store_many(conn: Conn, raws: list[bytes], *, source: str, max_bytes: int) -> list[Row]:
    """store_raw for a batch: one row per distinct message, in input order.

    Returns:
      [{"id", "sha256", "state", "inserted"}] for each distinct message.
    """
    hashes: dict[bytes, bytes] = {}
    for raw in raws:
        hashes.setdefault(hashlib.sha256(raw).digest(), raw)
    if not hashes:
        return []
    items = list(hashes.items())
    rows = await fetch_all(
        conn,
        Q.store_many,
        {
            "sha256": [h for h, _ in items],
            "raw": [raw[:max_bytes] for _, raw in items],
            "size": [len(raw) for _, raw in items],
            "state": ["oversize" if len(raw) > max_bytes else "stored" for _, raw in items],
            "error": [
                f"message of {len(raw)} bytes over the {max_bytes} limit"
                if len(raw) > max_bytes
                else None
                for _, raw in items
            ],
            "source": source[:200],
        },
    )
    order = {h: i for i, (h, _) in enumerate(items)}
    return sorted(rows, key=lambda row: order[bytes(row["sha256"])])


async def claim_for_parse(conn: Conn, inbound_id: int) -> Row | None:
    return await fetch_one(conn, Q.claim_for_parse, {"id": inbound_id})


async def lock_for_apply(conn: Conn, inbound_id: int) -> Row | None:
    return await fetch_one(conn, Q.lock_for_apply, {"id": inbound_id})


async def mark_parsed(conn: Conn, inbound_id: int, kind: str, error: str | None = None) -> None:
    await execute(conn, Q.mark_parsed, {"id": inbound_id, "kind": kind, "error": error})


async def mark_failed(conn: Conn, inbound_id: int, error: str, *, quarantine: bool) -> None:
    await execute(
        conn, Q.mark_failed, {"id": inbound_id, "error": error[:2000], "quarantine": quarantine}
    )


async def reset_for_reprocess(
    conn: Conn,
    *,
    kind: str | None = None,
    since: datetime | None = None,
    ids: list[int] | None = None,
) -> list[int]:
    rows = await fetch_all(conn, Q.reset_for_reprocess, {"kind": kind, "since": since, "ids": ids})
    return [row["id"] for row in rows]


async def unfinished(conn: Conn, older_than_s: float = 300, limit: int = 1000) -> list[int]:
    rows = await fetch_all(conn, Q.unfinished, {"older_than_s": older_than_s, "limit": limit})
    return [row["id"] for row in rows]


async def get_inbound(conn: Conn, inbound_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_inbound, {"id": inbound_id})


async def review(conn: Conn, *, before_id: int | None, limit: int = 50) -> list[Row]:
    """Messages an operator should look at (not understood, failed, quarantined), newest first."""
    return await fetch_all(conn, Q.inbound_review, {"before_id": before_id, "limit": limit})


async def preview(conn: Conn, inbound_id: int) -> Row | None:
    """One message with the first ``RAW_PREVIEW_BYTES`` of its raw text."""
    return await fetch_one(
        conn, Q.inbound_message, {"id": inbound_id, "max_bytes": RAW_PREVIEW_BYTES}
    )


async def store_esp_events(
    conn: Conn, sender_id: int, source: str, events: list[tuple[str, bytes]]
) -> list[Row]:
    """Store the events of one ESP callback: (identity, raw JSON) pairs, each kept once.

    The identity (provider, sender and the provider's event id) is hashed into ``sha256``, so a
    provider's retry, or the same event in another batch, finds the row it made before.

    Returns:
      [{"id", "sha256", "state", "inserted"}] for each distinct identity.
    """
    items: dict[bytes, bytes] = {}
    for identity, raw in events:
        items.setdefault(hashlib.sha256(identity.encode("utf-8")).digest(), raw)
    if not items:
        return []
    pairs = list(items.items())
    return await fetch_all(
        conn,
        Q.store_esp_events,
        {
            "sha256": [h for h, _ in pairs],
            "raw": [raw for _, raw in pairs],
            "size": [len(raw) for _, raw in pairs],
            "source": source,
            "sender_id": sender_id,
        },
    )
