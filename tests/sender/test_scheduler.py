"""The scheduler's repairs: work whose message was lost between COMMIT and publish is queued
again, and expired leases go back to the queue."""

from __future__ import annotations

from typing import Any

import pytest

from services.sender import scheduler
from shared.campaigns import service
from shared.db import transaction
from tests.fixtures.smtp import SmtpPeer
from tests.sender.conftest import (
    WorkerProcess,
    await_until,
    make_email,
    make_sender,
    make_subscribers,
)
from tests.sender.test_campaign import VARIATIONS

pytestmark = pytest.mark.slow


async def test_lost_messages_are_queued_again(
    pool: Any,
    settings: Any,
    sync_conn: Any,
    smtp_peer: SmtpPeer,
    sender_worker: WorkerProcess,
    scheduler_ticks: None,
) -> None:
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1])
    bulk_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[1:])
    ids = make_subscribers(sync_conn, sender["id"], 5)
    a = ids[0]
    addresses = {
        r["address"]
        for r in sync_conn.execute(
            "SELECT address::text FROM subscribers WHERE id = ANY(%s)", (ids,)
        )
    }

    def ours() -> list[str]:
        # The sweep is global: rows another test left queued may go to the same peer.
        return [t for r in smtp_peer.received for t in r.rcpt_tos if t in addresses]

    # Both commit, and then the process "dies" before publishing: the messages are dropped.
    async with transaction(pool) as tx:
        send, _lost = await service.send_to_subscriber(
            tx.conn, sender_id=sender["id"], email_id=email_id, subscriber_id=a
        )
        campaign, _lost2 = await service.queue_bulk_send(
            tx.conn, sender_id=sender["id"], email_id=bulk_id, locales=None, contains=None,
            filter=None, max_count=None, scheduled_at=None, ab=None,
        )  # fmt: skip
    # Age them past the sweeper's thresholds instead of waiting minutes.
    sync_conn.execute("UPDATE sends SET queued_at = now() - interval '1 hour' WHERE id = %s",
                      (send["id"],))  # fmt: skip
    sync_conn.execute("UPDATE campaigns SET started_at = now() - interval '1 hour' WHERE id = %s",
                      (campaign["id"],))  # fmt: skip
    messages = await scheduler.sweep(pool, settings)
    assert {m.actor_name for m in messages} == {"send.batch", "campaign.dispatch"}
    await await_until(lambda: len(ours()) >= 6, timeout=30)
    await await_until(
        lambda: sync_conn.execute("SELECT state::text FROM emails WHERE id = %s", (bulk_id,))
        .fetchone()["state"] == "sent", timeout=20,
    )  # fmt: skip
    got = ours()
    assert len(got) == 6 and set(got) == addresses  # a: transactional and bulk; others: bulk


async def test_expired_leases_are_released(pool: Any, settings: Any, sync_conn: Any) -> None:
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1])
    ids = make_subscribers(sync_conn, sender["id"], 3)
    rows = sync_conn.execute(
        "INSERT INTO sends (email_id, sender_id, subscriber_id, state, lease_until)"
        " SELECT %s, %s, unnest(%s::bigint[]), 'sending', now() - interval '1 second'"
        " RETURNING id",
        (email_id, sender["id"], ids),
    ).fetchall()
    async with transaction(pool) as tx:
        from shared.sends import repository as sends

        ranges = await sends.release_expired_leases(tx.conn, settings.send_batch_size)
    mine = [r for r in ranges if r["email_id"] == email_id]
    assert mine == [
        {
            "email_id": email_id,
            "transactional": False,
            "first_id": rows[0]["id"],
            "last_id": rows[-1]["id"],
        }
    ]
    states = {
        r["state"]
        for r in sync_conn.execute(
            "SELECT state::text FROM sends WHERE email_id = %s", (email_id,)
        ).fetchall()
    }
    assert states == {"queued"}


async def test_released_leases_reach_the_queue_after_a_broker_outage(
    pool: Any, settings: Any, sync_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RabbitMQ away at the tick's publish: the rows are 'queued' (committed), so no later tick
    releases them again; the job waits in the outbox and goes out with the next tick."""
    from shared import jobs
    from shared.errors import BrokerUnavailable

    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1])
    ids = make_subscribers(sync_conn, sender["id"], 2)
    rows = sync_conn.execute(
        "INSERT INTO sends (email_id, sender_id, subscriber_id, state, lease_until)"
        " SELECT %s, %s, unnest(%s::bigint[]), 'sending', now() - interval '1 second'"
        " RETURNING id",
        (email_id, sender["id"], ids),
    ).fetchall()
    published: list[Any] = []

    def broker_away(items: Any) -> None:
        raise BrokerUnavailable()

    outbox = scheduler.Outbox()
    monkeypatch.setattr(jobs, "publish_blocking", broker_away)
    with pytest.raises(BrokerUnavailable):
        await scheduler.tick(pool, settings, outbox)
    states = sync_conn.execute(
        "SELECT DISTINCT state::text FROM sends WHERE email_id = %s", (email_id,)
    ).fetchall()
    assert [r["state"] for r in states] == ["queued"]
    mine = [j for j in outbox.jobs if j.args[0] == email_id]
    assert [j.args for j in mine] == [(email_id, rows[0]["id"], rows[-1]["id"])]

    # Still away: the next tick keeps the job and does no work before it is out.
    with pytest.raises(BrokerUnavailable):
        await scheduler.tick(pool, settings, outbox)
    assert [j for j in outbox.jobs if j.args[0] == email_id] == mine

    monkeypatch.setattr(jobs, "publish_blocking", published.extend)
    await scheduler.tick(pool, settings, outbox)
    assert outbox.jobs == []
    assert [j.args for j in published if j.args[0] == email_id] == [
        (email_id, rows[0]["id"], rows[-1]["id"])
    ]
