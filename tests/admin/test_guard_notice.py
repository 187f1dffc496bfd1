"""The admin shows why the bounce and complaint guard paused an email (and nothing when a person
paused it)."""

from __future__ import annotations

import psycopg
from psycopg_pool import AsyncConnectionPool

from tests.admin.conftest import AdminClient, make_sender


async def test_progress_shows_the_guard_notice(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    sender_id = await make_sender(pool)
    email_id = sync_conn.execute(
        "INSERT INTO emails (sender_id, name) VALUES (%s, 'guarded') RETURNING id", (sender_id,)
    ).fetchone()["id"]
    sync_conn.execute("UPDATE emails SET state = 'sending' WHERE id = %s", (email_id,))
    sync_conn.execute("UPDATE emails SET state = 'paused' WHERE id = %s", (email_id,))
    campaign_id = sync_conn.execute(
        "INSERT INTO campaigns (email_id, sender_id, state) VALUES (%s, %s, 'paused') RETURNING id",
        (email_id, sender_id),
    ).fetchone()["id"]
    url = f"/senders/{sender_id}/emails/{email_id}/progress"

    page = await owner.client.get(url)
    assert page.status_code == 200 and 'id="guard-notice"' not in page.text  # a person paused it

    sync_conn.execute(
        "UPDATE campaigns SET paused_reason = 'bounce_rate: 30 of 200 sent (threshold 0.05)'"
        " WHERE id = %s",
        (campaign_id,),
    )
    page = await owner.client.get(url)
    assert 'id="guard-notice"' in page.text
    assert "bounce_rate: 30 of 200 sent (threshold 0.05)" in page.text
