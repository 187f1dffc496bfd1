"""Response reports: bounces (from the relay's reply at send time or an inbound message),
complaints, auto-replies and mailto unsubscribes; the matching of an inbound message to its
send; and the one statement that applies the bounce and complaint policy."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row, fetch_all, fetch_one, load_queries

Q = load_queries(__file__)


async def sends_by_ids(conn: Conn, send_ids: list[int]) -> list[Row]:
    return await fetch_all(conn, Q.sends_by_ids, {"ids": send_ids})


async def latest_send_to(conn: Conn, address: str, domains: list[str]) -> Row | None:
    return await fetch_one(
        conn, Q.latest_send_to, {"address": address, "domains": [d.lower() for d in domains]}
    )


async def sender_sends_by_ids(conn: Conn, sender_id: int, send_ids: list[int]) -> list[Row]:
    """The sends among ``send_ids`` that belong to ``sender_id``."""
    return await fetch_all(conn, Q.sender_sends_by_ids, {"ids": send_ids, "sender_id": sender_id})


async def sender_send_by_relay_id(conn: Conn, sender_id: int, relay_id: str) -> Row | None:
    """The send of ``sender_id`` the relay accepted under ``relay_id`` (its queue id)."""
    return await fetch_one(
        conn, Q.sender_send_by_relay_id, {"sender_id": sender_id, "relay_id": relay_id}
    )


async def sender_latest_send_to(conn: Conn, sender_id: int, address: str) -> Row | None:
    """The latest send of ``sender_id`` to ``address``."""
    return await fetch_one(
        conn, Q.sender_latest_send_to, {"sender_id": sender_id, "address": address}
    )


async def record_responses(conn: Conn, rows: list[dict[str, Any]]) -> list[Row]:
    """Store reports and apply the policy to the new ones (``record_responses`` in queries.sql).

    Parameters:
      rows: dicts with every field of ``policy.Report``.

    Returns:
      one row per report with its effects (inserted, subscriber_state, subscriber_changed,
      delivery_id of its webhook).
    """
    if not rows:
        return []
    subscriber_ids = sorted({r["subscriber_id"] for r in rows if r.get("subscriber_id")})
    if subscriber_ids:
        await fetch_all(conn, Q.lock_subscribers, {"ids": subscriber_ids})
    return await fetch_all(conn, Q.record_responses, {"rows": Jsonb(rows)})


async def reports_for_inbound(conn: Conn, inbound_id: int) -> list[Row]:
    return await fetch_all(conn, Q.reports_for_inbound, {"inbound_id": inbound_id})


async def report_detail(conn: Conn, sender_id: int, report_id: int) -> Row | None:
    """One bounce or complaint of a sender, with headers and the returned original."""
    return await fetch_one(conn, Q.report_detail, {"id": report_id, "sender_id": sender_id})
