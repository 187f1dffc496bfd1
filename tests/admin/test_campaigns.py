"""The bulk send controls through httpx: queue, pause, resume, cancel, failed sends and retry."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from tests.admin.conftest import AdminClient, make_sender


async def _email_with_audience(owner: AdminClient, pool: AsyncConnectionPool, n: int) -> str:
    sender_id = await make_sender(pool)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO subscribers (sender_id, address, locale) SELECT %s,"
            " 'c' || g || '@example.com', 'en_US' FROM generate_series(1, %s) g",
            [sender_id, n],
        )
    created = await owner.post(f"/senders/{sender_id}/emails/new", {"name": "Controls"})
    base = created.headers["location"].split("/variations")[0]
    added = await owner.post(
        f"{base}/variations/new", {"subject": "Hi", "plain_body": "Hello", "active": "on"}
    )
    assert added.status_code == 303
    return base


def _state(conn: psycopg.Connection[dict[str, Any]], base: str) -> str:
    email_id = int(base.rsplit("/", 1)[1])
    row = conn.execute("SELECT state FROM emails WHERE id = %s", [email_id]).fetchone()
    assert row is not None
    return str(row["state"])


async def test_queue_pause_resume_cancel(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict[str, Any]]
) -> None:
    base = await _email_with_audience(owner, pool, 3)
    confirm = await owner.post(f"{base}/send/confirm", {"max_count": "2"})
    assert confirm.status_code == 200 and '<strong id="planned">2</strong>' in confirm.text
    queued = await owner.post(f"{base}/send/queue", {"max_count": "2"})
    assert queued.status_code == 303 and _state(sync_conn, base) == "sending"
    again = await owner.post(f"{base}/send/queue", {})
    assert again.status_code == 409 and "cannot be queued now" in again.text
    assert (await owner.post(f"{base}/pause")).status_code == 303
    assert _state(sync_conn, base) == "paused"
    assert (await owner.post(f"{base}/resume")).status_code == 303
    assert _state(sync_conn, base) == "sending"
    assert (await owner.post(f"{base}/cancel")).status_code == 303
    assert _state(sync_conn, base) == "cancelled"
    page = await owner.client.get(f"{base}/send")
    assert page.status_code == 200 and "state-cancelled" in page.text


async def test_failed_sends_show_their_reason_and_retry(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict[str, Any]]
) -> None:
    base = await _email_with_audience(owner, pool, 2)
    email_id = int(base.rsplit("/", 1)[1])
    sync_conn.execute(
        "INSERT INTO sends (email_id, sender_id, subscriber_id, state, attempts, smtp_code,"
        " smtp_reply) SELECT e.id, e.sender_id, s.id, 'failed', 3, 550,"
        " '550 5.1.1 <' || s.address || '>: no such user'"
        " FROM emails e JOIN subscribers s ON s.sender_id = e.sender_id WHERE e.id = %s",
        [email_id],
    )
    fragment = await owner.client.get(f"{base}/progress", headers={"HX-Request": "true"})
    assert "550 5.1.1 &lt;c1@example.com&gt;: no such user" in fragment.text
    assert "Retry 2 failed" in fragment.text
    retried = await owner.post(f"{base}/retry")
    assert retried.status_code == 303
    states = sync_conn.execute(
        "SELECT state::text AS state FROM sends WHERE email_id = %s", [email_id]
    ).fetchall()
    # Queued again; a sender worker left running by another test may already have taken them.
    assert len(states) == 2 and {r["state"] for r in states} <= {"queued", "sending", "sent"}
