"""ESP endpoints (what verifies each sender's provider callbacks) and used signature tokens."""

from __future__ import annotations

from shared.db import Conn, Row, execute, fetch_all, fetch_one, load_queries

Q = load_queries(__file__)


async def get_endpoint(conn: Conn, sender_id: int, provider: str) -> Row | None:
    return await fetch_one(conn, Q.get_endpoint, {"sender_id": sender_id, "provider": provider})


async def list_endpoints(conn: Conn, sender_id: int) -> list[Row]:
    return await fetch_all(conn, Q.list_endpoints, {"sender_id": sender_id})


async def put_endpoint(
    conn: Conn,
    sender_id: int,
    provider: str,
    *,
    topic_arns: list[str] | None = None,
    public_key: str | None = None,
    username: str | None = None,
    secret_hash: bytes | None = None,
    secret: str | None = None,
) -> Row:
    """Configure one provider for a sender (the table's CHECK says which fields it needs)."""
    row = await fetch_one(
        conn,
        Q.put_endpoint,
        {
            "sender_id": sender_id,
            "provider": provider,
            "topic_arns": topic_arns or [],
            "public_key": public_key,
            "username": username,
            "secret_hash": secret_hash,
            "secret": secret,
        },
    )
    assert row is not None
    return row


async def delete_endpoint(conn: Conn, sender_id: int, provider: str) -> bool:
    row = await fetch_one(conn, Q.delete_endpoint, {"sender_id": sender_id, "provider": provider})
    return row is not None


async def use_nonce(conn: Conn, provider: str, nonce: str) -> bool:
    """True the first time ``nonce`` is seen for ``provider``; False for a replay."""
    row = await fetch_one(conn, Q.use_nonce, {"provider": provider, "nonce": nonce[:200]})
    return row is not None


async def prune_nonces(conn: Conn, older_than_s: float) -> int:
    """Forget tokens seen more than ``older_than_s`` ago; returns how many."""
    return await execute(conn, Q.prune_nonces, {"older_than_s": older_than_s})
