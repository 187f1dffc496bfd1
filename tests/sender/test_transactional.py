"""Transactional sends end to end: the service queues on the priority lane, a real dramatiq
worker (subprocess, this run's vhost) sends to the aiosmtpd peer, and the stdlib parser reads
the message back: data in the templates, layout, attachments byte for byte, extra headers, a
plain part for an HTML-only body, DKIM over it all, and delivery before a running campaign ends."""

from __future__ import annotations

import base64
import os
from email import message_from_bytes, policy
from typing import Any

import dkim
import pytest

from shared.campaigns import service as campaigns
from shared.db import transaction
from shared.layouts import service as layouts
from shared.transactional import service
from tests.fixtures.smtp import SmtpPeer
from tests.sender.conftest import (
    WorkerProcess,
    await_until,
    dkim_dns,
    make_email,
    make_sender,
    make_subscribers,
)

pytestmark = pytest.mark.slow

HTML_ONLY = [
    {
        "subject": "Receipt {{ data.order_id }}",
        "html_body": "<h1>Thanks {{ properties.first_name }}</h1>"
        "<p>Order <b>{{ data.order_id }}</b>: {% for i in data['items'] %}{{ i }}; {% endfor %}</p>"
        '<p><a href="https://shop.example.com/orders/{{ data.order_id }}">Your order</a></p>',
    }
]


def transactional_email(conn: Any, sender_id: int, variations: list[dict[str, Any]]) -> int:
    email_id, _ = make_email(conn, sender_id, variations, bulk=False)
    conn.execute("UPDATE emails SET transactional = true WHERE id = %s", (email_id,))
    return email_id


async def queue(pool: Any, sender_id: int, **kwargs: Any) -> dict[str, Any]:
    async with transaction(pool) as tx:
        row, jobs = await service.queue_send(tx.conn, sender_id=sender_id, **kwargs)
        tx.enqueue(*jobs)
    return row


def received_by(peer: SmtpPeer, address: str) -> list[Any]:
    return [r for r in list(peer.received) if r.rcpt_tos == [address]]


async def test_repeat_sends_non_subscribers_layout_data_and_attachment(
    pool: Any, sync_conn: Any, smtp_peer: SmtpPeer, sender_worker: WorkerProcess, rsa_pem: str
) -> None:
    sender = make_sender(sync_conn, pem=rsa_pem)
    sync_conn.execute(
        "UPDATE senders SET postal_address = '1 Main St, Springfield' WHERE id = %s",
        (sender["id"],),
    )
    email_id = transactional_email(sync_conn, sender["id"], HTML_ONLY)
    async with transaction(pool) as tx:
        layout = await layouts.create(tx.conn, sender["id"], {"name": "Receipts"})
    sync_conn.execute("UPDATE emails SET layout_id = %s WHERE id = %s", (layout["id"], email_id))
    [subscriber_id] = make_subscribers(
        sync_conn, sender["id"], 1, properties=lambda i: {"first_name": "Ada"}
    )
    subscriber = sync_conn.execute(
        "SELECT address FROM subscribers WHERE id = %s", (subscriber_id,)
    ).fetchone()
    pdf = os.urandom(3000) + b"\r\n.\r\n\x00end"  # CRLF, a lone dot and NUL survive base64
    attachment = {"filename": "receipt-\u00e9.pdf", "content_type": "application/pdf",
                  "content": base64.b64encode(pdf).decode()}  # fmt: skip

    sends = []
    for n in range(3):  # the same subscriber, three times
        data = {"order_id": f"A-{n}", "items": ["tea", "cake"]}
        sends.append(
            await queue(
                pool, sender["id"], email_id=email_id, subscriber_id=subscriber_id, data=data
            )
        )
    stranger = "stranger@example.net"
    sends.append(
        await queue(
            pool, sender["id"], email_id=email_id, to=stranger,
            data={"order_id": "B-7", "items": ["pie"]},
            headers={"Reply-To": "orders@example.com", "X-Order": "B-7"},
            attachments=[attachment],
        )
    )  # fmt: skip
    assert len({s["id"] for s in sends}) == 4

    await await_until(
        lambda: (
            len(received_by(smtp_peer, subscriber["address"])) >= 3
            and len(received_by(smtp_peer, stranger)) >= 1
        ),
        timeout=30,
    )
    assert len(received_by(smtp_peer, subscriber["address"])) == 3
    [raw] = received_by(smtp_peer, stranger)
    assert (
        sync_conn.execute(
            "SELECT count(*) AS n FROM subscribers WHERE address = %s", (stranger,)
        ).fetchone()["n"]
        == 0
    ), "a non-subscriber gets no subscriber row"

    msg = message_from_bytes(raw.data, policy=policy.default)
    assert msg["Subject"] == "Receipt B-7"
    assert msg["Reply-To"] == "orders@example.com"
    assert msg["X-Order"] == "B-7"
    assert msg["List-Unsubscribe"] is None and msg["Precedence"] is None
    assert msg.get_content_type() == "multipart/mixed"
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "B-7" in plain and "pie;" in plain and "1 Main St, Springfield" in plain
    assert "https://shop.example.com/orders/B-7" in plain, "links are kept in the plain part"
    assert "<b>B-7</b>" in html and "1 Main St, Springfield" in html
    [part] = list(msg.iter_attachments())
    assert part.get_filename() == "receipt-\u00e9.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_content() == pdf, "the attachment reads back byte for byte"
    assert dkim.verify(raw.data, dnsfunc=dkim_dns(rsa_pem))

    for r in received_by(smtp_peer, subscriber["address"]):
        m = message_from_bytes(r.data, policy=policy.default)
        assert m.get_content_type() == "multipart/alternative"
        assert "Thanks Ada" in m.get_body(("plain",)).get_content()
    orders = sorted(
        message_from_bytes(r.data, policy=policy.default)["Subject"]
        for r in received_by(smtp_peer, subscriber["address"])
    )
    assert orders == ["Receipt A-0", "Receipt A-1", "Receipt A-2"]

    await await_until(lambda: _state(sync_conn, sends[-1]["id"]) == "sent", timeout=10)
    async with pool.connection() as conn:
        status = await service.send_status(conn, sender["id"], sends[-1]["id"])
    assert status["smtp_code"] == 250 and status["address"] == stranger
    assert status["data"] == {"order_id": "B-7", "items": ["pie"]}
    assert status["attachments"] == [
        {"filename": "receipt-\u00e9.pdf", "content_type": "application/pdf", "size": len(pdf)}
    ]

    # A test send of the email comes in its layout too.
    variation_id = sync_conn.execute(
        "SELECT id FROM variations WHERE email_id = %s", (email_id,)
    ).fetchone()["id"]
    async with transaction(pool) as tx:
        jobs = await campaigns.test_send(
            tx.conn, sender_id=sender["id"], email_id=email_id, variation_id=variation_id,
            address="tester@example.net", properties={"first_name": "Tess"},
            data={"order_id": "T-1", "items": ["scone"]},
        )  # fmt: skip
        tx.enqueue(*jobs)
    await await_until(lambda: bool(received_by(smtp_peer, "tester@example.net")), timeout=20)
    [test] = received_by(smtp_peer, "tester@example.net")
    tested = message_from_bytes(test.data, policy=policy.default)
    tested_plain = tested.get_body(("plain",)).get_content()
    assert "1 Main St, Springfield" in tested_plain and "scone;" in tested_plain


def _state(conn: Any, send_id: int) -> str:
    return str(
        conn.execute("SELECT state FROM sends WHERE id = %s", (send_id,)).fetchone()["state"]
    )


async def test_a_transactional_send_is_delivered_before_a_running_campaign_ends(
    pool: Any, sync_conn: Any, smtp_peer: SmtpPeer, sender_worker: WorkerProcess,
    scheduler_ticks: None,
) -> None:  # fmt: skip
    # 100 messages a second for the campaign: 1,000 recipients take about 10 s.
    sender = make_sender(sync_conn, rate_per_second=100)
    sync_conn.execute(
        "UPDATE senders SET transactional_rate_limited = false WHERE id = %s", (sender["id"],)
    )
    bulk_id, _ = make_email(
        sync_conn, sender["id"], [{"subject": "News", "plain_body": "News {{ address }}"}]
    )
    make_subscribers(sync_conn, sender["id"], 1000)
    async with transaction(pool) as tx:
        _, jobs = await campaigns.queue_bulk_send(
            tx.conn, sender_id=sender["id"], email_id=bulk_id, locales=None, contains=None,
            filter=None, max_count=None, scheduled_at=None, ab=None,
        )  # fmt: skip
        tx.enqueue(*jobs)
    await await_until(lambda: len(smtp_peer.received) >= 50, timeout=30)
    email_id = transactional_email(
        sync_conn, sender["id"], [{"subject": "Reset", "plain_body": "Code {{ data.code }}"}]
    )
    await queue(pool, sender["id"], email_id=email_id, to="urgent@example.net",
                data={"code": "123456"})  # fmt: skip
    await await_until(lambda: bool(received_by(smtp_peer, "urgent@example.net")), timeout=20)
    bulk_done = sum(1 for r in list(smtp_peer.received) if r.rcpt_tos != ["urgent@example.net"])
    assert bulk_done < 1000, "the transactional send waited for the whole campaign"
    state = sync_conn.execute("SELECT state FROM emails WHERE id = %s", (bulk_id,)).fetchone()
    assert state["state"] == "sending"
    [raw] = received_by(smtp_peer, "urgent@example.net")
    body = message_from_bytes(raw.data, policy=policy.default).get_body(("plain",)).get_content()
    assert "Code 123456" in body
    # Leave nothing sending for the next test's peer.
    async with transaction(pool) as tx:
        await campaigns.cancel(tx.conn, sender_id=sender["id"], email_id=bulk_id)
    await await_until(
        lambda: (
            not sync_conn.execute(
                "SELECT 1 FROM sends WHERE email_id = %s AND state = 'sending' LIMIT 1", (bulk_id,)
            ).fetchone()
        ),
        timeout=30,
    )


async def test_a_lost_priority_message_is_queued_again_by_the_next_tick(
    pool: Any, sync_conn: Any, settings: Any
) -> None:
    from services.sender import scheduler
    from shared.jobs import SEND_PRIORITY

    sender = make_sender(sync_conn)
    email_id = transactional_email(sync_conn, sender["id"], [{"subject": "S", "plain_body": "B"}])
    row = sync_conn.execute(
        "INSERT INTO sends (email_id, sender_id, address, transactional, queued_at)"
        " VALUES (%s, %s, 'lost@example.net', true, now() - make_interval(secs => %s))"
        " RETURNING id",
        (email_id, sender["id"], settings.transactional_stale_seconds + 1),
    ).fetchone()
    # queued "in a minute": still fresh however long a loaded machine takes to reach the tick
    fresh = sync_conn.execute(
        "INSERT INTO sends (email_id, sender_id, address, transactional, queued_at)"
        " VALUES (%s, %s, 'fresh@example.net', true, now() + interval '1 minute') RETURNING id",
        (email_id, sender["id"]),
    ).fetchone()
    queued = await scheduler.tick(pool, settings, scheduler.Outbox())
    sync_conn.execute(  # nothing for a worker to send to a later test's peer
        "UPDATE sends SET state = 'cancelled' WHERE email_id = %s AND state = 'queued'",
        (email_id,),
    )
    mine = [j.args[1:] for j in queued if j.actor_name == SEND_PRIORITY and j.args[0] == email_id]
    assert mine, queued
    assert all(first <= row["id"] <= last < fresh["id"] for first, last in mine), mine
