"""The scheduler's health gauges the alerts read: the oldest due queued send and the running
campaigns that sent nothing for a while (tart_queued_send_age_seconds, tart_stuck_campaigns)."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from services.sender import scheduler
from shared.campaigns import repository as campaigns
from tests.sender.conftest import make_email, make_sender, make_subscribers
from tests.sender.test_campaign import VARIATIONS


async def test_health_counts_old_queued_sends_and_stuck_campaigns(
    pool: Any, settings: Any, sync_conn: Any
) -> None:
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1])
    (subscriber,) = make_subscribers(sync_conn, sender["id"], 1)
    sync_conn.execute("UPDATE emails SET state = 'sending' WHERE id = %s", (email_id,))
    campaign_id = sync_conn.execute(
        "INSERT INTO campaigns (email_id, sender_id, state, started_at)"
        " VALUES (%s, %s, 'sending', now() - interval '1 hour') RETURNING id",
        (email_id, sender["id"]),
    ).fetchone()["id"]
    send_id = sync_conn.execute(
        "INSERT INTO sends (email_id, sender_id, subscriber_id, campaign_id, held, queued_at)"
        " VALUES (%s, %s, %s, %s, true, now() - interval '3 hours') RETURNING id",
        (email_id, sender["id"], subscriber, campaign_id),
    ).fetchone()["id"]
    try:
        async with pool.connection() as conn:
            before = await campaigns.sending_health(conn, 900)
            # Held sends wait for an A/B winner on purpose: not "old". Released, it is due.
            sync_conn.execute("UPDATE sends SET held = false WHERE id = %s", (send_id,))
            after = await campaigns.sending_health(conn, 900)
        assert after["oldest_queued_seconds"] >= 3 * 3600 - 60
        assert after["stuck_campaigns"] >= 1
        assert before["oldest_queued_seconds"] < after["oldest_queued_seconds"]

        # The sweep exports them.
        await scheduler.sweep(pool, settings)
        assert REGISTRY.get_sample_value("tart_stuck_campaigns") >= 1
        assert REGISTRY.get_sample_value("tart_queued_send_age_seconds") >= 3 * 3600 - 60

        # A send of the campaign that went out recently: no longer stuck.
        stuck = after["stuck_campaigns"]
        sync_conn.execute("UPDATE sends SET state = 'sending' WHERE id = %s", (send_id,))
        sync_conn.execute(
            "UPDATE sends SET state = 'sent', sent_at = now() WHERE id = %s", (send_id,)
        )
        async with pool.connection() as conn:
            assert (await campaigns.sending_health(conn, 900))["stuck_campaigns"] == stuck - 1
    finally:
        sync_conn.execute("UPDATE campaigns SET state = 'cancelled' WHERE id = %s", (campaign_id,))
        sync_conn.execute(
            "UPDATE sends SET state = 'cancelled' WHERE id = %s AND state = 'queued'", (send_id,)
        )
