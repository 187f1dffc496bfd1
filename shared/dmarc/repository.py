"""DMARC aggregate and failure reports and SMTP TLS reports: what the receiver stores, and every
read of them (the admin's overview and dashboard, the API's per-sender list).

The admin's reads take ``domains`` (a sender's From and return-path domains), or ``None`` for an
owner's view of every domain.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row, fetch_all, fetch_one, load_queries

Q = load_queries(__file__)


def _when(value: Any) -> datetime | None:
    """parsedmarc's dates (naive UTC 'YYYY-MM-DD HH:MM:SS', or ISO with Z) as aware datetimes."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


async def store_aggregate(conn: Conn, inbound_id: int | None, report: dict[str, Any]) -> Row | None:
    """Returns {"id", "records"} for a new report, None when it was already stored."""
    records = [dict(r, source_ip=_ip(r["source_ip"])) for r in report["records"]]
    return await fetch_one(
        conn,
        Q.store_aggregate,
        {
            "inbound_id": inbound_id,
            "org_name": report["org_name"] or "(unknown)",
            "org_email": report.get("org_email"),
            "report_id": report["report_id"] or "(none)",
            "domain": report["domain"] or "(unknown)",
            "begin_at": _when(report["begin_at"]) or datetime.now(UTC),
            "end_at": _when(report["end_at"]) or datetime.now(UTC),
            "policy": Jsonb(report.get("policy") or {}),
            "errors": Jsonb(report.get("errors") or []),
            "message_count": report["message_count"],
            "pass_count": report["pass_count"],
            "records": Jsonb([r for r in records if r["source_ip"]]),
        },
    )


async def store_failure(conn: Conn, inbound_id: int, report: dict[str, Any]) -> Row | None:
    return await fetch_one(
        conn,
        Q.store_failure,
        {
            "inbound_id": inbound_id,
            "feedback_type": report.get("feedback_type"),
            "arrival_date": _when(report.get("arrival_date")),
            "source_ip": _ip(report.get("source_ip")),
            "reported_domain": report.get("reported_domain"),
            "auth_failure": report.get("auth_failure") or None,
            "delivery_result": report.get("delivery_result"),
            "dkim_domain": report.get("dkim_domain"),
            "original_mail_from": report.get("original_mail_from"),
            "original_rcpt_to": report.get("original_rcpt_to"),
            "subject": report.get("subject"),
            "sample_headers": Jsonb(report.get("sample_headers") or []),
            "parsed": Jsonb(report.get("parsed") or {}),
        },
    )


async def store_tls(conn: Conn, inbound_id: int | None, report: dict[str, Any]) -> Row | None:
    return await fetch_one(
        conn,
        Q.store_tls,
        {
            "inbound_id": inbound_id,
            "organization_name": report["organization_name"] or "(unknown)",
            "report_id": report["report_id"] or "(none)",
            "begin_at": _when(report.get("begin_at")),
            "end_at": _when(report.get("end_at")),
            "contact_info": report.get("contact_info"),
            "policies": Jsonb(report.get("policies") or []),
            "success_count": report["success_count"],
            "failure_count": report["failure_count"],
        },
    )


async def aggregate_for_inbound(conn: Conn, inbound_id: int) -> list[Row]:
    return await fetch_all(conn, Q.aggregate_for_inbound, {"inbound_id": inbound_id})


def _scope(domains: list[str] | None) -> dict[str, Any]:
    return {"all": domains is None, "domains": [d.lower() for d in domains or []]}


async def overview(conn: Conn, domains: list[str] | None, days: int = 30) -> dict[str, Any]:
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


async def report(conn: Conn, report_id: int, domains: list[str] | None) -> Row | None:
    """One aggregate report with its records, if its domain is in scope."""
    row = await fetch_one(conn, Q.dmarc_report, {"id": report_id, **_scope(domains)})
    if row is not None:
        row["records"] = await fetch_all(conn, Q.dmarc_report_records, {"report_id": report_id})
    return row


async def pass_rates(conn: Conn, user_id: int, is_owner: bool) -> list[Row]:
    """The dashboard's DMARC pass rate per domain of the senders the admin may see."""
    return await fetch_all(conn, Q.dmarc_pass_rates, {"user_id": user_id, "is_owner": is_owner})


async def sender_reports(
    conn: Conn, sender_id: int, *, before_id: int | None, limit: int
) -> list[Row]:
    """Aggregate reports about the sender's domains, newest first (the API's list)."""
    return await fetch_all(
        conn,
        Q.sender_dmarc_reports,
        {"sender_id": sender_id, "before_id": before_id, "limit": limit},
    )


async def sender_report(conn: Conn, sender_id: int, report_id: int) -> Row | None:
    """One aggregate report about one of the sender's domains, with its records."""
    row = await fetch_one(conn, Q.sender_dmarc_report, {"id": report_id, "sender_id": sender_id})
    if row is not None:
        row["records"] = await fetch_all(conn, Q.sender_dmarc_records, {"report_id": report_id})
    return row
