"""Reporting reads. Every query is scoped by sender_id (or, for DMARC, the sender's domains)."""

from __future__ import annotations

from typing import Any

from shared.db import Conn, Row, fetch_all, fetch_one, load_queries

Q = load_queries(__file__)
COUNTS = (
    "total", "pending", "sent", "failed", "cancelled", "opened", "opens", "proxied_opened",
    "proxied_opens", "machine_opens", "viewed", "clicked", "clicks", "machine_clicks",
    "unsubscribed", "bounced", "complained",
)  # fmt: skip


async def list_sends(
    conn: Conn,
    sender_id: int,
    *,
    email_id: int | None = None,
    subscriber_id: int | None = None,
    state: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[Row]:
    return await fetch_all(
        conn,
        Q.list_sends,
        {
            "sender_id": sender_id,
            "email_id": email_id,
            "subscriber_id": subscriber_id,
            "state": state,
            "before_id": before_id,
            "limit": limit,
        },
    )


async def get_send(conn: Conn, sender_id: int, send_id: int) -> Row | None:
    """The send with its ``events`` and ``reports``."""
    row = await fetch_one(conn, Q.get_send, {"id": send_id, "sender_id": sender_id})
    if row is None:
        return None
    row["events"] = await fetch_all(conn, Q.send_events, {"send_id": send_id})
    row["reports"] = await fetch_all(
        conn, Q.send_reports, {"send_id": send_id, "sender_id": sender_id}
    )
    return row


async def email_statistics(
    conn: Conn, sender_id: int, email_id: int, *, include_machine: bool
) -> dict[str, Any]:
    """``{"total": {...}, "variations": [...], "locales": [...], "days": [...]}``: the counts of
    ``COUNTS`` (see ``email_statistics`` in queries.sql) in total, per variation, per locale and
    per UTC day of sending."""
    rows = await fetch_all(
        conn,
        Q.email_statistics,
        {"sender_id": sender_id, "email_id": email_id, "include_machine": include_machine},
    )
    result: dict[str, Any] = {
        "total": dict.fromkeys(COUNTS, 0),
        "variations": [],
        "locales": [],
        "days": [],
    }
    for row in rows:
        counts = {name: int(row[name]) for name in COUNTS}
        grouping = row["grouping"]
        # GROUPING(variation_id, locale, day): 0b111 total, 0b011 variation, 0b101 locale, 0b110 day
        if grouping == 0b111:
            result["total"] = counts
        elif grouping == 0b011:
            result["variations"].append({"variation_id": row["variation_id"], **counts})
        elif grouping == 0b101:
            result["locales"].append({"locale": row["locale"], **counts})
        elif grouping == 0b110:
            result["days"].append({"day": row["day"], **counts})
    return result


async def link_clicks(conn: Conn, email_id: int) -> list[Row]:
    """Human, unique and machine clicks per (variation_id, link_index) of an email the caller
    checked is the sender's (see ``shared.statistics.links``)."""
    return await fetch_all(conn, Q.link_clicks, {"email_id": email_id})


async def list_reports(
    conn: Conn, sender_id: int, *, kind: str, before_id: int | None, limit: int
) -> list[Row]:
    return await fetch_all(
        conn,
        Q.list_reports,
        {"sender_id": sender_id, "kind": kind, "before_id": before_id, "limit": limit},
    )


# admin: reads of the admin's email list and statistics pages.


async def admin_email_counts(conn: Conn, sender_id: int, email_ids: list[int]) -> dict[int, Row]:
    rows = await fetch_all(
        conn, Q.admin_email_counts, {"sender_id": sender_id, "email_ids": email_ids}
    )
    return {row["email_id"]: row for row in rows}


async def admin_email_timeline(
    conn: Conn, sender_id: int, email_id: int, *, bucket: str, include_machine: bool
) -> list[Row]:
    """Rows ``(t, kind, n)``; ``kind`` is ``send`` or an event kind. ``bucket``: hour or day."""
    if bucket not in ("hour", "day"):
        raise ValueError("bucket must be hour or day")
    return await fetch_all(
        conn,
        Q.admin_email_timeline,
        {"sender_id": sender_id, "email_id": email_id, "bucket": bucket,
         "include_machine": include_machine},
    )  # fmt: skip


async def admin_sender_days(conn: Conn, sender_id: int, days: int = 60) -> list[Row]:
    return await fetch_all(conn, Q.admin_sender_days, {"sender_id": sender_id, "days": days})
