"""Reads of the admin dashboard, limited to the senders the admin may see."""

from __future__ import annotations

from shared.db import Conn, Row, fetch_all, load_queries
from shared.dmarc import repository as dmarc

Q = load_queries(__file__, "dashboard.sql")


async def overview(conn: Conn, user_id: int, is_owner: bool) -> dict[str, list[Row]]:
    """``senders``, ``campaigns`` (running), ``reports`` (recent bounces/complaints), ``dmarc``."""
    params = {"user_id": user_id, "is_owner": is_owner}
    return {
        "senders": await fetch_all(conn, Q.sender_overview, params),
        "campaigns": await fetch_all(conn, Q.running_campaigns, params),
        "reports": await fetch_all(conn, Q.recent_reports, params),
        "dmarc": await dmarc.pass_rates(conn, user_id, is_owner),
    }


async def running_campaigns(conn: Conn, user_id: int, is_owner: bool) -> list[Row]:
    return await fetch_all(conn, Q.running_campaigns, {"user_id": user_id, "is_owner": is_owner})
