"""inbound.parse against the real database: matching, policy, idempotency, DMARC storage,
and quarantine of a poison message."""

from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from services.receiver import parse
from services.receiver.ingest import store_and_queue
from shared.config import Settings
from shared.inbound import repository as inbound
from tests.receiver import messages
from tests.receiver.conftest import World


async def store(pool: AsyncConnectionPool, raw: bytes, envelope_to: str | None = None) -> int:
    async with pool.connection() as conn:
        row = await inbound.store_raw(
            conn, raw, source="test", envelope_to=envelope_to, max_bytes=10**8
        )
        await conn.commit()
    return int(row["id"])


def reports(conn: psycopg.Connection[dict], inbound_id: int) -> list[dict]:
    return conn.execute(
        "SELECT * FROM response_reports WHERE inbound_id = %s ORDER BY id", (inbound_id,)
    ).fetchall()


def subscriber_state(conn: psycopg.Connection[dict], subscriber_id: int) -> str:
    return conn.execute("SELECT state FROM subscribers WHERE id = %s", (subscriber_id,)).fetchone()[
        "state"
    ]


async def test_hard_bounce_by_verp_stops_subscriber_and_cancels_queued(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], world: World
) -> None:
    address = next(iter(world.sends))
    verp = f"bounces+{world.token(address).upper()}@{world.domain}"  # case folded by an MTA
    inbound_id = await store(pool, messages.dsn(address, envelope_to=verp))
    assert await parse.parse_inbound(pool, inbound_id) == "bounce"

    (report,) = reports(sync_conn, inbound_id)
    assert report["matched_by"] == "verp"
    assert report["send_id"] == world.sends[address]
    assert (report["hard_or_soft"], report["reason"], report["status"]) == (
        "hard",
        "user_unknown",
        "5.1.1",
    )
    names = [name for name, _ in report["headers"]]
    assert names.count("Delivered-To") == 1 and names[:3] == ["Delivered-To", "Return-Path", "From"]
    assert "Received: from c.example" in report["original"]
    assert subscriber_state(sync_conn, world.subscribers[address]) == "bounced"
    send = sync_conn.execute(
        "SELECT * FROM sends WHERE id = %s", (world.sends[address],)
    ).fetchone()
    assert send["bounced_at"] is not None and send["bounce_type"] == "hard"
    queued = sync_conn.execute(
        "SELECT state FROM sends WHERE id = %s", (world.queued[address],)
    ).fetchone()
    assert queued["state"] == "cancelled"
    events = sync_conn.execute(
        "SELECT kind FROM send_events WHERE send_id = %s", (world.sends[address],)
    ).fetchall()
    assert [e["kind"] for e in events] == ["bounce"]
    other = list(world.sends)[1]
    assert subscriber_state(sync_conn, world.subscribers[other]) == "active"


async def test_reprocess_changes_nothing_twice(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], world: World
) -> None:
    address = next(iter(world.sends))
    inbound_id = await store(pool, messages.dsn(address, token=world.token(address)))
    await parse.parse_inbound(pool, inbound_id)
    assert await parse.parse_inbound(pool, inbound_id) is None  # already parsed: no-op
    async with pool.connection() as conn:
        assert await inbound.reset_for_reprocess(conn, ids=[inbound_id]) == [inbound_id]
        await conn.commit()
    assert await parse.parse_inbound(pool, inbound_id) == "bounce"
    assert len(reports(sync_conn, inbound_id)) == 1
    assert reports(sync_conn, inbound_id)[0]["matched_by"] == "token_header"
    count = sync_conn.execute(
        "SELECT count(*) AS n FROM send_events WHERE send_id = %s", (world.sends[address],)
    ).fetchone()["n"]
    assert count == 1


def extra_sent_send(conn: psycopg.Connection[dict], world: World, address: str) -> int:
    email_id = conn.execute(
        "INSERT INTO emails (sender_id, name) VALUES (%s, 'more') RETURNING id", (world.sender_id,)
    ).fetchone()["id"]
    send_id = conn.execute(
        "INSERT INTO sends (email_id, sender_id, subscriber_id, state, sent_at)"
        " VALUES (%s, %s, %s, 'sending', now()) RETURNING id",
        (email_id, world.sender_id, world.subscribers[address]),
    ).fetchone()["id"]
    conn.execute("UPDATE sends SET state = 'sent' WHERE id = %s", (send_id,))
    return int(send_id)


async def test_soft_bounces_on_n_sends_stop_the_subscriber(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], world: World
) -> None:
    address = next(iter(world.sends))
    sid = world.subscribers[address]
    first = world.sends[address]
    # A delay notice is not a bounce (the MTA still retries); two final reports about one
    # message count once; the third distinct send reaches the sender's limit of 3.
    steps = [
        (first, "delayed", "4.2.2", "active"),
        (first, "failed", "5.2.2", "active"),
        (first, "failed", "5.2.2", "active"),
        (extra_sent_send(sync_conn, world, address), "failed", "5.2.2", "active"),
        (extra_sent_send(sync_conn, world, address), "failed", "5.2.2", "bounced"),
    ]
    for n, (send_id, action, status, expected) in enumerate(steps):
        raw = messages.dsn(
            address,
            status=status,
            action=action,
            diagnostic=f"smtp; {status[0]}52 {status} mailbox full (try {n})",
            token=world.codec.encode(send_id),
        )
        inbound_id = await store(pool, raw)
        await parse.parse_inbound(pool, inbound_id)
        (report,) = reports(sync_conn, inbound_id)
        assert (report["hard_or_soft"], report["reason"]) == ("soft", "mailbox_full")
        assert report["permanent"] is (action == "failed")
        assert subscriber_state(sync_conn, sid) == expected, n
    soft = sync_conn.execute("SELECT soft_bounces FROM subscribers WHERE id = %s", (sid,))
    assert soft.fetchone()["soft_bounces"] == 3
    events = sync_conn.execute(
        "SELECT count(*) AS n FROM send_events WHERE send_id = %s AND kind = 'bounce'", (first,)
    ).fetchone()["n"]
    assert events == 2  # the two final reports; the delay notice left no event


async def test_complaint_by_message_id_marks_complained(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], world: World
) -> None:
    address = list(world.sends)[1]
    raw = messages.arf("redacted@isp.example", None).replace(
        b"Message-ID: <",
        f"Message-ID: <{world.token(address)}@x.example>\r\nX-Old-Id: <".encode(),
        2,
    )
    inbound_id = await store(pool, raw)
    assert await parse.parse_inbound(pool, inbound_id) == "arf"
    (report,) = reports(sync_conn, inbound_id)
    assert report["feedback_type"] == "abuse" and report["matched_by"] == "message_id"
    assert subscriber_state(sync_conn, world.subscribers[address]) == "complained"
    send = sync_conn.execute(
        "SELECT complained_at FROM sends WHERE id = %s", (world.sends[address],)
    ).fetchone()
    assert send["complained_at"] is not None


async def test_recipient_fallback_and_autoreply_changes_nothing(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], world: World
) -> None:
    address = list(world.sends)[2]
    inbound_id = await store(
        pool,
        messages.dsn(address, status="5.7.1", diagnostic="smtp; 550 5.7.1 message looks like spam"),
    )
    await parse.parse_inbound(pool, inbound_id)
    (report,) = reports(sync_conn, inbound_id)
    assert report["matched_by"] == "recipient" and report["send_id"] == world.sends[address]
    assert (report["hard_or_soft"], report["reason"]) == ("soft", "spam")
    reply_id = await store(pool, messages.autoreply(f"news@{world.domain}"))
    assert await parse.parse_inbound(pool, reply_id) == "autoreply"
    assert subscriber_state(sync_conn, world.subscribers[address]) == "active"


async def test_dmarc_zip_stored_once_with_its_records(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    report_id = "rep-" + messages.uuid.uuid4().hex
    xml = messages.dmarc_xml(report_id, records=4)
    first = await store(pool, messages.report_mail(messages.zipped("r.xml", xml), "r.xml.zip"))
    second = await store(
        pool, messages.report_mail(messages.gzipped(xml), "r.xml.gz", "application/gzip")
    )
    assert await parse.parse_inbound(pool, first) == "dmarc_aggregate"
    assert await parse.parse_inbound(pool, second) == "dmarc_aggregate"
    rows = sync_conn.execute(
        "SELECT r.id, r.message_count, count(d.id) AS records FROM dmarc_aggregate_reports r"
        " JOIN dmarc_aggregate_records d ON d.report_id = r.id"
        " WHERE r.report_id = %s GROUP BY r.id",
        (report_id,),
    ).fetchall()
    assert len(rows) == 1 and rows[0]["records"] == 4 and rows[0]["message_count"] == 2 + 3 + 4 + 5


async def test_poison_message_is_retried_then_quarantined(
    pool: AsyncConnectionPool, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(raw: bytes, envelope_to: str | None = None) -> object:
        raise ValueError("classifier bug")

    monkeypatch.setattr(parse, "classify", explode)
    inbound_id = await store(pool, messages.autoreply("x@example.com") + b"poison")
    for _ in range(settings.inbound_max_attempts - 1):
        with pytest.raises(parse.PoisonMessage):
            await parse.parse_inbound(pool, inbound_id)
    assert await parse.parse_inbound(pool, inbound_id) is None
    async with pool.connection() as conn:
        row = await inbound.get_inbound(conn, inbound_id)
    assert row is not None and row["state"] == "quarantined" and "classifier bug" in row["error"]


async def test_oversize_message_is_kept_truncated_and_not_queued(
    pool: AsyncConnectionPool, settings: Settings
) -> None:
    small = settings.model_copy(update={"max_inbound_bytes": 1000})
    raw = messages.autoreply("x@example.com") + b"x" * 5000
    inbound_id = await store_and_queue(pool, raw, source="test", envelope_to=None, settings=small)
    async with pool.connection() as conn:
        row = await inbound.get_inbound(conn, inbound_id)
    assert row is not None and row["state"] == "oversize" and row["size"] == len(raw)
    assert await parse.parse_inbound(pool, inbound_id) is None


async def test_bounce_logs_a_webhook_delivery(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], world: World
) -> None:
    sync_conn.execute(
        "UPDATE senders SET webhook_url = 'https://hooks.example.com/x' WHERE id = %s",
        (world.sender_id,),
    )
    address = next(iter(world.sends))
    inbound_id = await store(pool, messages.dsn(address, token=world.token(address)))
    await parse.parse_inbound(pool, inbound_id)
    rows = sync_conn.execute(
        "SELECT event, payload FROM webhook_deliveries WHERE sender_id = %s", (world.sender_id,)
    ).fetchall()
    assert [r["event"] for r in rows] == ["bounce"]
    assert rows[0]["payload"]["send_id"] == world.sends[address]
    assert rows[0]["payload"]["hard_or_soft"] == "hard"


async def test_mailto_unsubscribe_is_tied_to_its_send(
    pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict], world: World
) -> None:
    address = list(world.sends)[1]
    to = f"unsubscribe+{world.token(address)}@{world.domain}"
    raw = f"From: {address}\r\nTo: {to}\r\nSubject: unsubscribe\r\n\r\nplease\r\n".encode()
    inbound_id = await store(pool, raw)
    assert await parse.parse_inbound(pool, inbound_id) == "unsubscribe"
    (report,) = reports(sync_conn, inbound_id)
    assert report["kind"] == "unsubscribe" and report["send_id"] == world.sends[address]
    assert report["matched_by"] == "verp"
    subscriber = sync_conn.execute(
        "SELECT s.state FROM subscribers s JOIN sends d ON d.subscriber_id = s.id WHERE d.id = %s",
        (world.sends[address],),
    ).fetchone()
    assert subscriber["state"] == "unsubscribed"
    event = sync_conn.execute(
        "SELECT count(*) AS n FROM send_events WHERE send_id = %s AND kind = 'unsubscribe'",
        (world.sends[address],),
    ).fetchone()
    assert event["n"] == 1
    consent = sync_conn.execute(
        "SELECT action, source, source_ref FROM consent_records WHERE sender_id = %s",
        (world.sender_id,),
    ).fetchall()
    assert consent == [
        {"action": "unsubscribe", "source": "mailto", "source_ref": str(world.sends[address])}
    ]
