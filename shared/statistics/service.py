"""An email's statistics as the API and the admin show them: counts per email, variation,
locale and day (``repository.email_statistics``), per link (``links``) and the A/B test's
decision (``shared.campaigns.abtest``), all from the same definitions (db/0090
``send_engagement``)."""

from __future__ import annotations

from typing import Any

from shared.campaigns import abtest
from shared.db import Conn, Row
from shared.statistics import repository
from shared.statistics.links import link_statistics


async def email_report(
    conn: Conn, sender_id: int, email: Row, *, include_machine: bool = False
) -> dict[str, Any]:
    """``total``, ``variations``, ``locales``, ``days``, ``links`` and ``ab_test`` (None without
    an A/B campaign) of ``email``, the sender's email as the caller read it (once)."""
    email_id = email["id"]
    report = await repository.email_statistics(
        conn, sender_id, email_id, include_machine=include_machine
    )
    report["links"] = await link_statistics(conn, sender_id, email)
    report["ab_test"] = await abtest.status(conn, sender_id, email_id)
    return report
