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


async def test_guard_thresholds_in_the_settings_form(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    sender_id = await make_sender(pool)
    page = await owner.client.get(f"/senders/{sender_id}")
    assert 'name="guard_bounce_percent"' in page.text and 'value="5"' in page.text
    assert 'value="0.3"' in page.text
    form = {
        "name": "News", "public_base_url": "https://links.example.com",
        "return_path_domain": "bounces.example.com", "soft_bounce_limit": "3",
        "soft_bounce_days": "30", "guard_bounce_percent": "10", "guard_complaint_percent": "",
        "guard_min_sent": "50",
    }  # fmt: skip
    assert (await owner.post(f"/senders/{sender_id}", form)).status_code == 303
    row = sync_conn.execute(
        "SELECT guard_bounce_rate::float8 AS b, guard_complaint_rate AS c, guard_min_sent AS m"
        " FROM senders WHERE id = %s",
        (sender_id,),
    ).fetchone()
    assert row == {"b": 0.1, "c": None, "m": 50}
    for bad in ({"guard_bounce_percent": "150"}, {"guard_complaint_percent": "x"},
                {"guard_min_sent": "0"}):  # fmt: skip
        response = await owner.post(f"/senders/{sender_id}", {**form, **bad})
        assert response.status_code == 400, bad
    assert (
        sync_conn.execute(
            "SELECT guard_min_sent FROM senders WHERE id = %s", (sender_id,)
        ).fetchone()["guard_min_sent"]
        == 50
    )
