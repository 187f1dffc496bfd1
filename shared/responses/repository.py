"""Response reports (bounces, complaints, auto-replies, mailto unsubscribes) and the sender's
bounce and complaint policy, applied in one set-based statement."""

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


async def record_responses(conn: Conn, inbound_id: int, rows: list[dict[str, Any]]) -> list[Row]:
    """Upsert the reports of one inbound message and apply the policy to the new ones.

    Parameters:
      rows: dicts with sender_id, send_id, subscriber_id, kind, recipient, hard_or_soft, status,
        reason, diagnostic, feedback_type, matched_by, headers, human_text, original.

    Returns:
      one row per report with its effects (inserted, subscriber_state, subscriber_changed).
    """
    if not rows:
        return []
    return await fetch_all(
        conn, Q.record_responses, {"inbound_id": inbound_id, "rows": Jsonb(rows)}
    )


async def reports_for_inbound(conn: Conn, inbound_id: int) -> list[Row]:
    return await fetch_all(conn, Q.reports_for_inbound, {"inbound_id": inbound_id})


async def report_detail(conn: Conn, sender_id: int, report_id: int) -> Row | None:
    """One bounce or complaint of a sender, with headers and the returned original."""
    return await fetch_one(conn, Q.report_detail, {"id": report_id, "sender_id": sender_id})
