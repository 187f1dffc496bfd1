"""SMTP failures, suppression, cancel, pause/resume, transactional and test sends, rate limits,
tenant isolation, through the real worker and the aiosmtpd peer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from services.sender.dispatch import dispatch
from shared.campaigns import service
from shared.db import transaction
from shared.errors import Conflict, Gone, NotFound
from shared.jobs import publish
from tests.fixtures.smtp import SmtpPeer
from tests.sender.conftest import (
    WorkerProcess,
    await_until,
    make_email,
    make_sender,
    make_subscribers,
)
from tests.sender.test_campaign import VARIATIONS, queue

pytestmark = pytest.mark.slow


def send_row(sync_conn: Any, send_id: int) -> dict[str, Any]:
    row = sync_conn.execute("SELECT * FROM sends WHERE id = %s", (send_id,)).fetchone()
    assert row is not None
    return dict(row)


async def transactional(pool: Any, **kwargs: Any) -> dict[str, Any]:
    async with transaction(pool) as tx:
        send, messages = await service.send_to_subscriber(tx.conn, **kwargs)
        for m in messages:
            tx.enqueue(m)
    return send


def subscriber(sync_conn: Any, subscriber_id: int) -> dict[str, Any]:
    row = sync_conn.execute("SELECT * FROM subscribers WHERE id = %s", (subscriber_id,)).fetchone()
    assert row is not None
    return dict(row)


async def test_451_then_250_ends_sent(
    pool: Any, sync_conn: Any, smtp_peer: SmtpPeer, sender_worker: WorkerProcess
) -> None:
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1], bulk=False)
    (sub_id,) = make_subscribers(sync_conn, sender["id"], 1)
    smtp_peer.replies.append("451 4.3.0 try again later")
    send = await transactional(
        pool, sender_id=sender["id"], email_id=email_id, subscriber_id=sub_id
    )
    await await_until(lambda: send_row(sync_conn, send["id"])["state"] == "sent", timeout=20)
    row = send_row(sync_conn, send["id"])
    assert row["attempts"] == 2
    assert len(smtp_peer.received) == 1
    assert "Precedence" not in smtp_peer.received[0].message  # transactional, not bulk


async def test_a_refused_sender_is_retried_and_never_bounces_the_recipient(
    pool: Any, sync_conn: Any, smtp_peer: SmtpPeer, sender_worker: WorkerProcess
) -> None:
    """A 5xx to MAIL FROM is about our sender (the relay's setup), not the recipient: the send
    waits on the retry schedule, no bounce is recorded and the subscriber stays active."""
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1], bulk=False)
    (sub_id,) = make_subscribers(sync_conn, sender["id"], 1)
    smtp_peer.mail_reply = "553 5.7.1 Sender address rejected: not owned by user"
    send = await transactional(
        pool, sender_id=sender["id"], email_id=email_id, subscriber_id=sub_id
    )
    await await_until(lambda: send_row(sync_conn, send["id"])["smtp_code"] == 553, timeout=20)
    row = send_row(sync_conn, send["id"])
    assert row["state"] in ("queued", "sending") and row["bounce_type"] is None
    assert subscriber(sync_conn, sub_id)["state"] == "active"
    reports = sync_conn.execute(
        "SELECT count(*) AS n FROM response_reports WHERE send_id = %s", (send["id"],)
    ).fetchone()
    assert reports["n"] == 0
    smtp_peer.mail_reply = None
    await await_until(lambda: send_row(sync_conn, send["id"])["state"] == "sent", timeout=30)
    assert [r.rcpt_tos for r in smtp_peer.received] == [[subscriber(sync_conn, sub_id)["address"]]]


async def test_a_refused_sender_at_the_last_try_fails_without_a_bounce(
    pool: Any, sync_conn: Any, smtp_peer: SmtpPeer, sender_worker: WorkerProcess
) -> None:
    """Its retry lifetime over, a send whose MAIL FROM the relay keeps refusing fails, and it is
    still not a bounce: the reply was about us, not about the recipient."""
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1], bulk=False)
    (sub_id,) = make_subscribers(sync_conn, sender["id"], 1)
    smtp_peer.mail_reply = "553 5.7.1 Sender address rejected: not owned by user"
    try:
        async with transaction(pool) as tx:
            send, messages = await service.send_to_subscriber(
                tx.conn, sender_id=sender["id"], email_id=email_id, subscriber_id=sub_id
            )
            await tx.conn.execute(  # first tried six days ago: the lifetime (5 days) is over
                "UPDATE sends SET first_attempt_at = now() - interval '6 days' WHERE id = %s",
                (send["id"],),
            )
            for m in messages:
                tx.enqueue(m)
        await await_until(lambda: send_row(sync_conn, send["id"])["state"] == "failed", timeout=20)
    finally:
        smtp_peer.mail_reply = None
    row = send_row(sync_conn, send["id"])
    assert row["smtp_code"] == 553 and row["bounce_type"] is None
    sub = subscriber(sync_conn, sub_id)
    assert sub["state"] == "active" and sub["soft_bounces"] == 0
    reports = sync_conn.execute(
        "SELECT count(*) AS n FROM response_reports WHERE send_id = %s", (send["id"],)
    ).fetchone()
    assert reports["n"] == 0


async def test_550_511_fails_and_stops_the_subscriber(
    pool: Any, sync_conn: Any, smtp_peer: SmtpPeer, sender_worker: WorkerProcess
) -> None:
    sender = make_sender(sync_conn)
    sync_conn.execute(
        "UPDATE senders SET webhook_url = 'https://hooks.example.com/t' WHERE id = %s",
        (sender["id"],),
    )
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1])
    sub_id, other_id = make_subscribers(sync_conn, sender["id"], 2)
    address = subscriber(sync_conn, sub_id)["address"]
    smtp_peer.rcpt_replies[address] = "550 5.1.1 <x>: Recipient address rejected: User unknown"
    send = await transactional(pool, sender_id=sender["id"], email_id=email_id, address=address)
    await await_until(lambda: send_row(sync_conn, send["id"])["state"] == "failed", timeout=20)
    row = send_row(sync_conn, send["id"])
    assert row["smtp_code"] == 550 and "5.1.1" in row["smtp_reply"]
    assert row["bounce_type"] == "hard" and row["bounced_at"] is not None
    assert subscriber(sync_conn, sub_id)["state"] == "bounced"
    event = sync_conn.execute(
        "SELECT kind::text, detail FROM send_events WHERE send_id = %s", (send["id"],)
    ).fetchone()
    assert event["kind"] == "bounce" and event["detail"]["status"] == "5.1.1"
    hooks = {
        r["event"]: r["payload"]
        for r in sync_conn.execute(
            "SELECT event, payload FROM webhook_deliveries WHERE sender_id = %s", (sender["id"],)
        ).fetchall()
    }
    # The send failed (send_failed), and the reply is a bounce, told as the receiver tells one.
    assert set(hooks) == {"send_failed", "bounce"}
    assert hooks["send_failed"]["send_id"] == send["id"]
    assert hooks["send_failed"]["smtp_code"] == 550
    assert hooks["bounce"]["send_id"] == send["id"] and hooks["bounce"]["source"] == "smtp"
    assert (hooks["bounce"]["hard_or_soft"], hooks["bounce"]["subscriber_state"]) == (
        "hard",
        "bounced",
    )
    assert smtp_peer.received == []

    # A 5.7.1 policy refusal is a soft bounce: the send fails, the subscriber stays active.
    other = subscriber(sync_conn, other_id)["address"]
    smtp_peer.rcpt_replies[other] = "550 5.7.1 policy"
    send2 = await transactional(pool, sender_id=sender["id"], email_id=email_id, address=other)
    await await_until(lambda: send_row(sync_conn, send2["id"])["state"] == "failed", timeout=20)
    assert send_row(sync_conn, send2["id"])["bounce_type"] == "soft"
    assert subscriber(sync_conn, other_id)["state"] == "active"

    # Retrying the failed sends: the soft one goes out, the bounced subscriber's is cancelled.
    smtp_peer.rcpt_replies.clear()
    async with transaction(pool) as tx:
        count, messages = await service.retry_failed(
            tx.conn, sender_id=sender["id"], email_id=email_id
        )
        for m in messages:
            tx.enqueue(m)
    assert count == 2
    await await_until(lambda: send_row(sync_conn, send2["id"])["state"] == "sent", timeout=20)
    await await_until(lambda: send_row(sync_conn, send["id"])["state"] == "cancelled", timeout=20)
    assert [r.rcpt_tos[0] for r in smtp_peer.received] == [other]


async def test_a_subscriber_who_stopped_after_queueing_is_not_sent(
    pool: Any, sync_conn: Any, smtp_peer: SmtpPeer, sender_worker: WorkerProcess
) -> None:
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1])
    (sub_id,) = make_subscribers(sync_conn, sender["id"], 1)
    async with transaction(pool) as tx:
        send, messages = await service.send_to_subscriber(
            tx.conn, sender_id=sender["id"], email_id=email_id, subscriber_id=sub_id
        )
    sync_conn.execute("UPDATE subscribers SET state = 'unsubscribed' WHERE id = %s", (sub_id,))
    await publish(messages)
    await await_until(lambda: send_row(sync_conn, send["id"])["state"] == "cancelled", timeout=20)
    assert send_row(sync_conn, send["id"])["error"] == "subscriber is unsubscribed"
    assert smtp_peer.received == []


async def test_transactional_send_errors(pool: Any, sync_conn: Any) -> None:
    sender = make_sender(sync_conn)
    intruder = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1])
    a, b = make_subscribers(sync_conn, sender["id"], 2)
    sync_conn.execute("UPDATE subscribers SET state = 'complained' WHERE id = %s", (b,))
    async with pool.connection() as conn:
        await service.send_to_subscriber(
            conn, sender_id=sender["id"], email_id=email_id, subscriber_id=a
        )
        with pytest.raises(Conflict):
            await service.send_to_subscriber(
                conn, sender_id=sender["id"], email_id=email_id, subscriber_id=a
            )
        await conn.rollback()
        with pytest.raises(Gone):
            await service.send_to_subscriber(
                conn, sender_id=sender["id"], email_id=email_id, subscriber_id=b
            )
        await conn.rollback()
        # Another sender sees neither the email nor the subscriber.
        with pytest.raises(NotFound):
            await service.send_to_subscriber(
                conn, sender_id=intruder["id"], email_id=email_id, subscriber_id=a
            )
        await conn.rollback()
        with pytest.raises(NotFound):
            await service.progress(conn, sender_id=intruder["id"], email_id=email_id)
        await conn.rollback()
        with pytest.raises(NotFound):
            await service.test_send(
                conn, sender_id=intruder["id"], email_id=email_id, variation_id=1,
                address="x@example.com", properties=None,
            )  # fmt: skip
        await conn.rollback()


class Collect:
    """A publisher that keeps messages, so a test decides when the worker sees them."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def __call__(self, messages: Sequence[Any]) -> None:
        self.messages.extend(messages)


async def queued_campaign(pool: Any, sync_conn: Any, n: int) -> tuple[Any, int, Any]:
    """A sender, a one-variation email and ``n`` subscribers, bulk-queued but not dispatched."""
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1])
    make_subscribers(sync_conn, sender["id"], n)
    async with transaction(pool) as tx:
        campaign, _ = await service.queue_bulk_send(
            tx.conn, sender_id=sender["id"], email_id=email_id, locales=None, contains=None,
            filter=None, max_count=None, scheduled_at=None, ab=None,
        )  # fmt: skip
    return sender, email_id, campaign


async def _dispatched(pool: Any, settings: Any, sync_conn: Any, n: int) -> tuple[Any, ...]:
    sender, email_id, campaign = await queued_campaign(pool, sync_conn, n)
    collect = Collect()
    assert await dispatch(pool, campaign["id"], settings=settings, publish=collect) == n
    return sender, email_id, campaign, collect


async def test_cancel_cancels_queued_sends(
    pool: Any, settings: Any, sync_conn: Any, smtp_peer: SmtpPeer, sender_worker: WorkerProcess
) -> None:
    sender, email_id, _campaign, collect = await _dispatched(pool, settings, sync_conn, 30)
    async with transaction(pool) as tx:
        cancelled = await service.cancel(tx.conn, sender_id=sender["id"], email_id=email_id)
    assert cancelled == 30
    await publish(collect.messages)
    await asyncio.sleep(1.5)
    states = sync_conn.execute(
        "SELECT state::text, count(*) AS n FROM sends WHERE email_id = %s GROUP BY 1", (email_id,)
    ).fetchall()
    assert [(r["state"], r["n"]) for r in states] == [("cancelled", 30)]
    assert smtp_peer.received == []
    email = sync_conn.execute(
        "SELECT state::text FROM emails WHERE id = %s", (email_id,)
    ).fetchone()
    assert email["state"] == "cancelled"


async def test_pause_then_resume(
    pool: Any,
    settings: Any,
    sync_conn: Any,
    smtp_peer: SmtpPeer,
    sender_worker: WorkerProcess,
    scheduler_ticks: None,
) -> None:
    sender, email_id, _campaign, collect = await _dispatched(pool, settings, sync_conn, 20)
    async with transaction(pool) as tx:
        await service.pause(tx.conn, sender_id=sender["id"], email_id=email_id)
    await publish(collect.messages)
    await asyncio.sleep(1.5)
    assert smtp_peer.received == []
    async with transaction(pool) as tx:
        for m in await service.resume(tx.conn, sender_id=sender["id"], email_id=email_id):
            tx.enqueue(m)
    await await_until(lambda: len(smtp_peer.received) >= 20, timeout=30)
    await await_until(
        lambda: sync_conn.execute("SELECT state::text FROM emails WHERE id = %s", (email_id,))
        .fetchone()["state"] == "sent", timeout=20,
    )  # fmt: skip


async def test_test_send_renders_given_properties(
    pool: Any, sync_conn: Any, smtp_peer: SmtpPeer, sender_worker: WorkerProcess
) -> None:
    sender = make_sender(sync_conn)
    email_id, (variation_id,) = make_email(sync_conn, sender["id"], VARIATIONS[:1])
    async with transaction(pool) as tx:
        for m in await service.test_send(
            tx.conn, sender_id=sender["id"], email_id=email_id, variation_id=variation_id,
            address="tester@example.net", properties={"first_name": "Zeynep"},
        ):  # fmt: skip
            tx.enqueue(m)
    await await_until(lambda: len(smtp_peer.received) == 1, timeout=20)
    msg = smtp_peer.received[0].message
    assert msg["Subject"] == "Hello Zeynep \u2013 offer A"
    assert smtp_peer.received[0].rcpt_tos == ["tester@example.net"]


async def test_rate_limit_per_second_holds(
    pool: Any,
    sync_conn: Any,
    smtp_peer: SmtpPeer,
    sender_worker: WorkerProcess,
    scheduler_ticks: None,
) -> None:
    sender = make_sender(sync_conn, rate_per_second=15)
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[1:])
    make_subscribers(sync_conn, sender["id"], 45)
    await queue(
        pool, sender_id=sender["id"], email_id=email_id, locales=None, contains=None,
        filter=None, max_count=None, scheduled_at=None, ab=None,
    )  # fmt: skip
    await await_until(lambda: len(smtp_peer.received) >= 45, timeout=30)
    windows = sync_conn.execute(
        "SELECT count FROM rate_counters WHERE key = %s", (f"send:{sender['id']}:second",)
    ).fetchall()
    assert len(windows) >= 3
    assert max(w["count"] for w in windows) <= 15
    assert sum(w["count"] for w in windows) == 45
