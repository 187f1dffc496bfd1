"""The one bounce and complaint policy (shared/responses/policy.py, record_responses) against the
real database: each call its own transaction, as the sender worker and the receiver make them."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from shared.db import transaction
from shared.inbound import repository as inbound
from shared.responses import policy
from shared.responses.policy import Report
from shared.subscribers import repository as subscribers


@dataclass
class Mailbox:
    sender_id: int
    subscriber_id: int
    address: str
    sends: list[dict[str, Any]]  # sent, one per email
    queued: int  # a send still waiting (another email)


def make_mailbox(conn: psycopg.Connection[dict], sends: int = 4) -> Mailbox:
    tag = uuid.uuid4().hex[:10]
    sender_id = conn.execute(
        "INSERT INTO senders (address, name, public_base_url, return_path_domain, webhook_url)"
        " VALUES (%s, 'News', 'https://news.example.com', %s, 'https://hooks.example.com/x')"
        " RETURNING id",
        (f"news-{tag}@example.com", f"b-{tag}.example.com"),
    ).fetchone()["id"]
    address = f"ann-{tag}@example.org"
    sub = conn.execute(
        "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s) RETURNING id",
        (sender_id, address),
    ).fetchone()["id"]
    rows = []
    for n in range(sends + 1):
        email = conn.execute(
            "INSERT INTO emails (sender_id, name) VALUES (%s, %s) RETURNING id", (sender_id, n)
        ).fetchone()["id"]
        send = conn.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id, state, attempts)"
            " VALUES (%s, %s, %s, 'sending', 1) RETURNING id, subscriber_id, attempts",
            (email, sender_id, sub),
        ).fetchone()
        rows.append({**send, "address": address})
    queued = rows.pop()["id"]
    conn.execute("UPDATE sends SET state = 'queued' WHERE id = %s", (queued,))
    conn.execute(
        "UPDATE sends SET state = 'failed', sent_at = now() WHERE id = ANY(%s)",
        ([r["id"] for r in rows],),
    )
    return Mailbox(sender_id, sub, address, rows, queued)


@pytest.fixture
def mailbox(sync_conn: psycopg.Connection[dict]) -> Mailbox:
    return make_mailbox(sync_conn)


async def apply(pool: AsyncConnectionPool, *reports: Report) -> policy.Applied:
    async with transaction(pool) as tx:
        return await policy.apply(tx.conn, list(reports))


def smtp(box: Mailbox, n: int, reply: str) -> Report:
    return policy.smtp_bounce(box.sender_id, box.sends[n], int(reply[:3]), reply)


async def dsn(
    pool: AsyncConnectionPool, box: Mailbox, n: int, status: str, reason: str, **kw: Any
) -> Report:
    """A report as the receiver files one (with a stored message behind it)."""
    async with pool.connection() as conn:
        row = await inbound.store_raw(
            conn, uuid.uuid4().bytes, source="test", envelope_to=None, max_bytes=10**6
        )
        await conn.commit()
    hard = status.startswith("5.1.1")
    values: dict[str, Any] = {
        "kind": "bounce", "inbound_id": row["id"], "sender_id": box.sender_id,
        "send_id": box.sends[n]["id"], "subscriber_id": box.subscriber_id,
        "recipient": box.address, "hard_or_soft": "hard" if hard else "soft", "permanent": True,
        "status": status, "reason": reason, "matched_by": "verp",
    }  # fmt: skip
    return Report(**{**values, **kw})


def state(conn: psycopg.Connection[dict], box: Mailbox) -> dict[str, Any]:
    row = conn.execute(
        "SELECT state::text, soft_bounces, state_changed_at FROM subscribers WHERE id = %s",
        (box.subscriber_id,),
    ).fetchone()
    assert row is not None
    return dict(row)


def count(conn: psycopg.Connection[dict], sql: str, *params: Any) -> int:
    return int(conn.execute(sql, params).fetchone()["n"])


async def test_a_hard_smtp_reply_stops_the_subscriber_once(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], mailbox: Mailbox
) -> None:
    before = state(sync_conn, mailbox)
    report = smtp(
        mailbox, 0, "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown"
    )
    applied = await apply(pool, report)
    assert applied.stopped == [mailbox.subscriber_id] and len(applied.messages) == 1
    after = state(sync_conn, mailbox)
    assert after["state"] == "bounced" and after["state_changed_at"] > before["state_changed_at"]
    queued = sync_conn.execute(
        "SELECT state::text, error FROM sends WHERE id = %s", (mailbox.queued,)
    ).fetchone()
    assert queued == {"state": "cancelled", "error": "subscriber is bounced"}
    event = sync_conn.execute(
        "SELECT kind::text, detail FROM send_events WHERE send_id = %s", (mailbox.sends[0]["id"],)
    ).fetchone()
    assert event["kind"] == "bounce"
    assert {k: event["detail"][k] for k in ("source", "hard_or_soft", "reason", "status")} == {
        "source": "smtp", "hard_or_soft": "hard", "reason": "user_unknown", "status": "5.1.1",
    }  # fmt: skip

    # The same reply written again (a retried batch write) changes nothing.
    again = await apply(pool, report)
    assert again.rows == [] and again.messages == []
    send_id = mailbox.sends[0]["id"]
    assert (
        count(sync_conn, "SELECT count(*) AS n FROM send_events WHERE send_id = %s", send_id) == 1
    )
    assert (
        count(sync_conn, "SELECT count(*) AS n FROM response_reports WHERE send_id = %s", send_id)
        == 1
    )
    assert (
        count(
            sync_conn,
            "SELECT count(*) AS n FROM webhook_deliveries WHERE sender_id = %s",
            mailbox.sender_id,
        )
        == 1
    )


async def test_soft_bounces_from_both_paths_share_one_window(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], mailbox: Mailbox
) -> None:
    await apply(pool, smtp(mailbox, 0, "552 5.2.2 Mailbox full"))
    await apply(pool, await dsn(pool, mailbox, 1, "5.2.2", "mailbox_full"))
    assert state(sync_conn, mailbox)["state"] == "active"
    await apply(pool, smtp(mailbox, 2, "554 5.7.1 Message rejected as spam"))
    after = state(sync_conn, mailbox)
    assert (after["state"], after["soft_bounces"]) == ("bounced", 3)


async def test_soft_bounces_out_of_the_window_do_not_count(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], mailbox: Mailbox
) -> None:
    sync_conn.execute(
        "UPDATE subscribers SET state_changed_at = now() - interval '90 days' WHERE id = %s",
        (mailbox.subscriber_id,),
    )
    await apply(pool, smtp(mailbox, 0, "552 5.2.2 Mailbox full"))
    await apply(pool, smtp(mailbox, 1, "552 5.2.2 Mailbox full"))
    sync_conn.execute(
        "UPDATE response_reports SET created_at = now() - interval '31 days'"
        " WHERE subscriber_id = %s",
        (mailbox.subscriber_id,),
    )
    await apply(pool, smtp(mailbox, 2, "552 5.2.2 Mailbox full"))
    assert state(sync_conn, mailbox)["state"] == "active"  # 1 in 30 days, not 3
    sync_conn.execute(
        "UPDATE senders SET soft_bounce_window = '60 days' WHERE id = %s", (mailbox.sender_id,)
    )
    await apply(pool, smtp(mailbox, 3, "552 5.2.2 Mailbox full"))
    assert state(sync_conn, mailbox)["state"] == "bounced"  # the sender widened its window


async def test_a_resubscribed_address_starts_counting_again(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], mailbox: Mailbox
) -> None:
    for n in range(3):
        await apply(pool, smtp(mailbox, n, "452 4.2.2 Mailbox full"))
    assert state(sync_conn, mailbox)["state"] == "bounced"
    async with transaction(pool) as tx:
        await subscribers.update(
            tx.conn, mailbox.sender_id, mailbox.subscriber_id, {"state": "active"}
        )
    await apply(pool, smtp(mailbox, 3, "452 4.2.2 Mailbox full"))
    after = state(sync_conn, mailbox)
    assert (after["state"], after["soft_bounces"]) == ("active", 1)


async def test_hard_is_never_downgraded_and_a_delay_notice_changes_nothing(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], mailbox: Mailbox
) -> None:
    send_id = mailbox.sends[0]["id"]
    delayed = await dsn(pool, mailbox, 0, "4.4.1", "network", permanent=False, hard_or_soft="soft")
    applied = await apply(pool, delayed)
    assert [r["inserted"] for r in applied.rows] == [True] and applied.messages == []
    send = sync_conn.execute("SELECT bounced_at, bounce_type FROM sends WHERE id = %s", (send_id,))
    assert send.fetchone() == {"bounced_at": None, "bounce_type": None}
    assert (
        count(sync_conn, "SELECT count(*) AS n FROM send_events WHERE send_id = %s", send_id) == 0
    )

    await apply(pool, await dsn(pool, mailbox, 0, "5.1.1", "user_unknown"))
    await apply(pool, smtp(mailbox, 0, "552 5.2.2 Mailbox full"))
    send = sync_conn.execute("SELECT bounce_type FROM sends WHERE id = %s", (send_id,))
    assert send.fetchone()["bounce_type"] == "hard"


async def test_a_complaint_stops_even_an_unsubscribed_address(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], mailbox: Mailbox
) -> None:
    sync_conn.execute(
        "UPDATE subscribers SET state = 'unsubscribed' WHERE id = %s", (mailbox.subscriber_id,)
    )
    report = replace(
        await dsn(pool, mailbox, 0, "", ""),
        kind="arf", hard_or_soft=None, permanent=None, status=None, reason=None,
        feedback_type="abuse",
    )  # fmt: skip
    applied = await apply(pool, report)
    assert state(sync_conn, mailbox)["state"] == "complained"
    hook = sync_conn.execute(
        "SELECT event, payload FROM webhook_deliveries WHERE id = %s",
        (applied.rows[0]["delivery_id"],),
    ).fetchone()
    assert hook["event"] == "complaint" and hook["payload"]["feedback_type"] == "abuse"
    assert hook["payload"]["subscriber_state"] == "complained"


async def test_a_concurrent_soft_bounce_never_undoes_a_hard_one(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], mailbox: Mailbox
) -> None:
    """Two calls about one subscriber: the second waits for the first and decides on the
    state the first left, instead of writing back the state it read before."""
    hard = smtp(mailbox, 0, "550 5.1.1 <ann@example.org>: User unknown")
    soft = smtp(mailbox, 1, "552 5.2.2 Mailbox full")
    async with transaction(pool) as first:
        await policy.apply(first.conn, [hard])
        second = asyncio.create_task(apply(pool, soft))
        await asyncio.sleep(0.5)  # let the second call reach the subscriber's row lock
        assert not second.done()
    await second
    assert state(sync_conn, mailbox)["state"] == "bounced"


async def test_two_soft_bounces_at_once_both_count(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], mailbox: Mailbox
) -> None:
    """With a limit of two, two soft bounces applied by two transactions at the same time stop
    the subscriber: the second waits for the first and then counts its bounce too."""
    sync_conn.execute(
        "UPDATE senders SET soft_bounce_limit = 2 WHERE id = %s", (mailbox.sender_id,)
    )
    async with transaction(pool) as first:
        await policy.apply(first.conn, [smtp(mailbox, 0, "552 5.2.2 Mailbox full")])
        second = asyncio.create_task(apply(pool, smtp(mailbox, 1, "452 4.2.2 Mailbox full")))
        await asyncio.sleep(0.5)  # let the second call reach the subscriber's row lock
        assert not second.done()
    await second
    after = state(sync_conn, mailbox)
    assert (after["state"], after["soft_bounces"]) == ("bounced", 2)
