"""Reads of the admin's report pages: bounce detail, DMARC, TLS reports and inbound review.

DMARC and TLS reads take ``domains`` (the sender's From and return-path domains), or ``None``
for an owner's view of every domain.
"""

from __future__ import annotations

from typing import Any

from shared.db import Conn, Row, fetch_all, fetch_one, load_queries

Q = load_queries(__file__, "reporting.sql")
RAW_PREVIEW_BYTES = 256 * 1024


def _scope(domains: list[str] | None) -> dict[str, Any]:
    return {"all": domains is None, "domains": [d.lower() for d in domains or []]}


async def report_detail(conn: Conn, sender_id: int, report_id: int) -> Row | None:
    return await fetch_one(conn, Q.report_detail, {"id": report_id, "sender_id": sender_id})


async def dmarc_overview(conn: Conn, domains: list[str] | None, days: int = 30) -> dict[str, Any]:
    """``daily``, ``sources``, ``reporters``, ``reports``, ``failures`` and ``tls``."""
    params = {**_scope(domains), "days": days}
    return {
        "daily": await fetch_all(conn, Q.dmarc_daily, params),
        "sources": await fetch_all(conn, Q.dmarc_sources, params),
        "reporters": await fetch_all(conn, Q.dmarc_reporters, params),
        "reports": await fetch_all(conn, Q.dmarc_reports, params),
        "failures": await fetch_all(conn, Q.dmarc_failures, params),
        "tls": await fetch_all(conn, Q.tls_reports, params),
    }


async def dmarc_report(conn: Conn, report_id: int, domains: list[str] | None) -> Row | None:
    row = await fetch_one(conn, Q.dmarc_report, {"id": report_id, **_scope(domains)})
    if row is not None:
        row["records"] = await fetch_all(conn, Q.dmarc_report_records, {"report_id": report_id})
    return row


async def inbound_review(conn: Conn, *, before_id: int | None, limit: int = 50) -> list[Row]:
    return await fetch_all(conn, Q.inbound_review, {"before_id": before_id, "limit": limit})


async def inbound_message(conn: Conn, inbound_id: int) -> Row | None:
    return await fetch_one(
        conn, Q.inbound_message, {"id": inbound_id, "max_bytes": RAW_PREVIEW_BYTES}
    )
