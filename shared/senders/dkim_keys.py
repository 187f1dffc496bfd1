"""A sender's DKIM keys (db/0085): create, list, activate (retiring the active key of the same
algorithm), retire, delete. The rules live here once; the API and the admin call these. Rows
come back with a ``dns_name`` and ``dns_value`` (the TXT record to publish) and without the
private key, which never leaves the services."""

from __future__ import annotations

from typing import Any

import psycopg

from shared.db import Conn, Row, execute, fetch_all, fetch_one, load_queries
from shared.errors import Conflict, NotFound, Unprocessable
from shared.senders.dkim import (
    ALGORITHMS,
    SELECTOR,
    check_private_key,
    dns_name,
    generate_private_key,
    public_txt_record,
)

Q = load_queries(__file__, "dkim_keys.sql")


def _public(row: Row, from_address: str) -> Row:
    key = dict(row)
    private_key = key.pop("private_key")
    key["dns_name"] = dns_name(key["selector"], from_address)
    try:
        key["dns_value"] = public_txt_record(private_key)
    except (ValueError, TypeError) as error:  # a row written by hand: show it, do not fail
        key["dns_value"] = f"(the stored private key cannot be read: {error})"
    return key


async def list_keys(conn: Conn, sender_id: int, from_address: str) -> list[Row]:
    rows = await fetch_all(conn, Q.list_dkim_keys, {"sender_id": sender_id})
    return [_public(row, from_address) for row in rows]


async def get_key(conn: Conn, sender_id: int, key_id: int, from_address: str) -> Row:
    row = await fetch_one(conn, Q.get_dkim_key, {"id": key_id, "sender_id": sender_id})
    if row is None:
        raise NotFound("no such DKIM key")
    return _public(row, from_address)


async def create_key(
    conn: Conn,
    sender_id: int,
    from_address: str,
    *,
    selector: str,
    algorithm: str,
    private_key: str | None = None,
) -> Row:
    """A new 'next' key: generated, or the given PEM (imported from another system).

    Raises:
      Unprocessable: a bad selector or algorithm, or a key that cannot sign that algorithm.
      Conflict: the sender already has a key with this selector.
    """
    if not SELECTOR.match(selector):
        raise Unprocessable("selector: letters, digits, dot, dash or underscore (at most 63)")
    if algorithm not in ALGORITHMS:
        raise Unprocessable(f"algorithm: one of {', '.join(ALGORITHMS)}")
    if private_key is None:
        private_key = generate_private_key(algorithm)
    else:
        try:
            check_private_key(private_key, algorithm)
        except ValueError as error:
            raise Unprocessable(f"private_key: {error}") from None
    params: dict[str, Any] = {"sender_id": sender_id, "selector": selector}
    params.update(algorithm=algorithm, private_key=private_key.strip() + "\n")
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction goes on
            row = await fetch_one(conn, Q.create_dkim_key, params)
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"selector {selector!r} is taken: a rotation needs a new one") from None
    assert row is not None
    return _public(row, from_address)


async def activate_key(conn: Conn, sender_id: int, key_id: int, from_address: str) -> Row:
    """The key signs from now on; the active key of its algorithm is retired in the same
    transaction, so messages are signed throughout a rotation."""
    current = await get_key(conn, sender_id, key_id, from_address)
    params = {"id": key_id, "sender_id": sender_id, "algorithm": current["algorithm"]}
    try:
        async with conn.transaction():
            await execute(conn, Q.retire_active_dkim_key, params)
            row = await fetch_one(conn, Q.activate_dkim_key, params)
    except psycopg.errors.UniqueViolation:  # another activation of this algorithm meanwhile
        raise Conflict("another key was activated at the same time; try again") from None
    assert row is not None
    return _public(row, from_address)


async def retire_key(conn: Conn, sender_id: int, key_id: int, from_address: str) -> Row:
    """The key stops signing (with no active key of its algorithm left, mail goes out without
    that signature)."""
    row = await fetch_one(conn, Q.retire_dkim_key, {"id": key_id, "sender_id": sender_id})
    if row is None:
        raise NotFound("no such DKIM key")
    return _public(row, from_address)


async def delete_key(conn: Conn, sender_id: int, key_id: int) -> None:
    """Raises NotFound for another sender's key, Conflict for an active one."""
    if await fetch_one(conn, Q.delete_dkim_key, {"id": key_id, "sender_id": sender_id}):
        return
    if await fetch_one(conn, Q.get_dkim_key, {"id": key_id, "sender_id": sender_id}):
        raise Conflict("an active key signs the sender's mail: retire it (or activate another)")
    raise NotFound("no such DKIM key")
