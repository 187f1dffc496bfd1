"""Privacy storage: the erase statement, the erased-address hashes, and (export.sql) the reads
that gather everything about one subscriber."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.db import Conn, Row, fetch_all, fetch_one, fetch_value, load_queries

Q = load_queries(__file__)


async def lock_target(conn: Conn, sender_id: int, subscriber_id: int) -> Row | None:
    return await fetch_one(conn, Q.lock_target, {"id": subscriber_id, "sender_id": sender_id})


async def erase(conn: Conn, sender_id: int, subscriber_id: int, address_hash: bytes) -> bool:
    row = await fetch_one(
        conn,
        Q.erase,
        {"id": subscriber_id, "sender_id": sender_id, "address_hash": address_hash},
    )
    return row is not None


async def erased_at(conn: Conn, sender_id: int, address_hash: bytes) -> datetime | None:
    value: datetime | None = await fetch_value(
        conn, Q.erased_at, {"sender_id": sender_id, "address_hash": address_hash}
    )
    return value


async def has_erased(conn: Conn, sender_id: int) -> bool:
    return bool(await fetch_value(conn, Q.has_erased, {"sender_id": sender_id}))


async def erased_among(conn: Conn, sender_id: int, hashes: Sequence[bytes]) -> set[bytes]:
    rows = await fetch_all(conn, Q.erased_among, {"sender_id": sender_id, "hashes": list(hashes)})
    return {bytes(r["address_hash"]) for r in rows}
