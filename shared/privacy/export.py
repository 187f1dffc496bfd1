"""GDPR export: everything stored about one subscriber as one JSON-ready document.

Sections: the profile, the consent history, sends (with the counts the sender sees), events
(with IP and user agent as stored), bounce/complaint/auto-reply reports (with the returned
headers and texts), a pending double opt-in confirmation, and webhook deliveries whose payload
names the subscriber. Each list is
capped at ``EXPORT_MAX`` items; ``truncated`` names the sections that hit the cap.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.consent import repository as consent
from shared.db import Conn, fetch_all, fetch_one, load_queries

Q = load_queries(__file__, "export.sql")
EXPORT_MAX = 10_000
FORMAT = "tart-mailer.subscriber-export.v1"


async def export(conn: Conn, sender_id: int, subscriber_id: int) -> dict[str, Any] | None:
    """The document, or None when the sender has no such subscriber. Values are Python objects
    (datetimes, dicts); serialise with ``jsonable_encoder`` or ``json.dumps(default=str)``."""
    params = {
        "sender_id": sender_id,
        "subscriber_id": subscriber_id,
        "limit": EXPORT_MAX,
        "newest_first": False,
    }
    profile = await fetch_one(conn, Q.profile, params)
    if profile is None:
        return None
    sections: dict[str, list[dict[str, Any]]] = {
        "consent": await consent.history(conn, sender_id, subscriber_id, limit=EXPORT_MAX),
        "sends": await fetch_all(conn, Q.sends, params),
        "events": await fetch_all(conn, Q.events, params),
        "reports": await fetch_all(conn, Q.reports, params),
        "confirmations": await fetch_all(conn, Q.confirmations, params),
        "webhook_deliveries": await fetch_all(
            conn, Q.webhooks, {**params, "address": profile["address"]}
        ),
    }
    return {
        "format": FORMAT,
        "exported_at": datetime.now(UTC),
        "sender_id": sender_id,
        "subscriber": profile,
        **sections,
        "truncated": sorted(k for k, rows in sections.items() if len(rows) >= EXPORT_MAX),
    }


async def activity(
    conn: Conn, sender_id: int, subscriber_id: int, *, limit: int = 50
) -> dict[str, list[dict[str, Any]]]:
    """The admin's subscriber page: the whole consent history, and the latest sends and events."""
    params = {
        "sender_id": sender_id,
        "subscriber_id": subscriber_id,
        "limit": limit,
        "newest_first": True,
    }
    return {
        "consent": await consent.history(conn, sender_id, subscriber_id),
        "sends": await fetch_all(conn, Q.sends, params),
        "events": await fetch_all(conn, Q.events, params),
    }
