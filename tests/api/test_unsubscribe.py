"""An unsubscribe through the API takes the same path as one from a link (shared/events): state
and state_changed_at, cancelled queued sends and the unsubscribe webhook, once."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.api.conftest import Tenant


def waiting_subscriber(conn: psycopg.Connection[dict], sender_id: int) -> dict[str, Any]:
    """A subscriber with a queued send, for a sender that posts webhooks."""
    conn.execute(
        "UPDATE senders SET webhook_url = 'https://hooks.example.com/u' WHERE id = %s",
        (sender_id,),
    )
    sub = conn.execute(
        "INSERT INTO subscribers (sender_id, address, state_changed_at)"
        " VALUES (%s, 'u-' || gen_random_uuid() || '@example.org', now() - interval '1 day')"
        " RETURNING id, address, state_changed_at",
        (sender_id,),
    ).fetchone()
    email = conn.execute(
        "INSERT INTO emails (sender_id, name) VALUES (%s, 'e') RETURNING id", (sender_id,)
    ).fetchone()
    send = conn.execute(
        "INSERT INTO sends (email_id, sender_id, subscriber_id) VALUES (%s, %s, %s) RETURNING id",
        (email["id"], sender_id, sub["id"]),
    ).fetchone()
    return {**sub, "queued": send["id"]}


def unsubscribe_hooks(conn: psycopg.Connection[dict], sender_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT payload FROM webhook_deliveries WHERE sender_id = %s AND event = 'unsubscribe'",
        (sender_id,),
    ).fetchall()
    return [r["payload"] for r in rows]


async def test_api_unsubscribe_cancels_queued_sends_and_tells_the_webhook_once(
    tenant: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    sub = waiting_subscriber(sync_conn, tenant.sender_id)
    for _ in range(2):
        r = await tenant.client.patch(
            f"/v1/subscribers/{sub['id']}", json={"state": "unsubscribed", "locale": "en_US"}
        )
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["locale"]) == ("unsubscribed", "en_US")
    after = sync_conn.execute(
        "SELECT state_changed_at FROM subscribers WHERE id = %s", (sub["id"],)
    ).fetchone()
    assert after["state_changed_at"] > sub["state_changed_at"]
    queued = sync_conn.execute(
        "SELECT state::text, error FROM sends WHERE id = %s", (sub["queued"],)
    ).fetchone()
    assert queued == {"state": "cancelled", "error": "subscriber unsubscribed"}
    assert unsubscribe_hooks(sync_conn, tenant.sender_id) == [
        {"send_id": None, "email_id": None, "subscriber_id": sub["id"],
         "address": sub["address"], "source": "api"}
    ]  # fmt: skip


async def test_api_unsubscribe_leaves_a_bounced_subscriber_bounced(
    tenant: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    sub = waiting_subscriber(sync_conn, tenant.sender_id)
    sync_conn.execute("UPDATE subscribers SET state = 'bounced' WHERE id = %s", (sub["id"],))
    r = await tenant.client.patch(f"/v1/subscribers/{sub['id']}", json={"state": "unsubscribed"})
    assert r.status_code == 200 and r.json()["state"] == "bounced"
    assert unsubscribe_hooks(sync_conn, tenant.sender_id) == []
    missing = await tenant.client.patch("/v1/subscribers/999999999", json={"state": "unsubscribed"})
    assert missing.status_code == 404


async def test_a_pending_subscriber_who_asks_to_unsubscribe_is_unsubscribed(
    tenant: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    r = await tenant.client.post(
        "/v1/subscribers", json={"address": "pending-unsub@example.org", "double_opt_in": True}
    )
    assert r.status_code in (200, 201), r.text
    assert r.json()["state"] == "pending"
    r = await tenant.client.patch(
        f"/v1/subscribers/{r.json()['id']}", json={"state": "unsubscribed"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "unsubscribed"
    actions = sync_conn.execute(
        "SELECT action FROM consent_records WHERE subscriber_id = %s ORDER BY id",
        (r.json()["id"],),
    ).fetchall()
    assert [a["action"] for a in actions] == ["subscribe", "unsubscribe"]
