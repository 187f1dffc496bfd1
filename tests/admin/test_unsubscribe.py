"""An unsubscribe made in the admin takes the same path as one from a link (shared/events)."""

from __future__ import annotations

import psycopg
from psycopg_pool import AsyncConnectionPool

from tests.admin.conftest import AdminClient, make_sender
from tests.api.test_unsubscribe import unsubscribe_hooks, waiting_subscriber


async def test_admin_unsubscribe_cancels_queued_sends_and_tells_the_webhook(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    sender_id = await make_sender(pool)
    sub = waiting_subscriber(sync_conn, sender_id)
    saved = await owner.post(
        f"/senders/{sender_id}/subscribers/{sub['id']}",
        {"locale": "C", "state": "unsubscribed", "properties": "{}"},
    )
    assert saved.status_code == 303, saved.text
    row = sync_conn.execute(
        "SELECT state::text, state_changed_at FROM subscribers WHERE id = %s", (sub["id"],)
    ).fetchone()
    assert row["state"] == "unsubscribed" and row["state_changed_at"] > sub["state_changed_at"]
    queued = sync_conn.execute("SELECT state::text FROM sends WHERE id = %s", (sub["queued"],))
    assert queued.fetchone()["state"] == "cancelled"
    (hook,) = unsubscribe_hooks(sync_conn, sender_id)
    assert (hook["subscriber_id"], hook["source"]) == (sub["id"], "admin")
