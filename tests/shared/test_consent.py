"""Consent records: written by the service, isolated per sender, and append-only in the
database (only erasure may forget the personal columns; db/0100)."""

from __future__ import annotations

import psycopg
import pytest

from shared.consent import repository as consent_repo
from shared.consent import service as consent
from shared.senders import repository as senders
from shared.subscribers import repository as subscribers
from tests.conftest import unique_address


async def _sender(conn: psycopg.AsyncConnection[dict]) -> int:
    row = await senders.create_sender(
        conn, address=unique_address("news"), name="News", public_base_url="https://l.example.com"
    )
    return int(row["id"])


async def _subscriber(conn: psycopg.AsyncConnection[dict], sender_id: int) -> int:
    row = await subscribers.create(
        conn, sender_id, address=unique_address(), locale="en_US", properties={}
    )
    return int(row["id"])


async def _refused(conn: psycopg.AsyncConnection[dict], sql: str, params: tuple) -> str:
    async with conn.transaction():
        with pytest.raises(psycopg.errors.IntegrityError) as caught:
            async with conn.transaction():
                await conn.execute(sql, params)
    return str(caught.value)


async def test_record_and_history(conn) -> None:
    sender_id = await _sender(conn)
    subscriber_id = await _subscriber(conn, sender_id)
    wording = consent.text_hash("Yes, send me the newsletter.")
    await consent.record(
        conn,
        sender_id=sender_id,
        subscriber_id=subscriber_id,
        action="subscribe",
        source="form",
        source_ref="12",
        ip="203.0.113.9",
        user_agent="Firefox",
        text_hash=wording,
        detail={"locale": "en_US"},
    )
    await consent.record(
        conn,
        sender_id=sender_id,
        subscriber_id=subscriber_id,
        action="confirm",
        source="form",
        source_ref="12",
        ip="not-an-ip",
    )
    rows = await consent_repo.history(conn, sender_id, subscriber_id)
    assert [(r["action"], r["source"], r["source_ref"]) for r in rows] == [
        ("subscribe", "form", "12"),
        ("confirm", "form", "12"),
    ]
    assert rows[0]["ip"] == "203.0.113.9" and rows[0]["user_agent"] == "Firefox"
    assert rows[0]["text_hash"] == wording and rows[0]["detail"] == {"locale": "en_US"}
    assert rows[1]["ip"] is None  # a malformed address is dropped, the record is kept
    # another sender sees none of it
    other = await _sender(conn)
    assert await consent_repo.history(conn, other, subscriber_id) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "bogus"},
        {"source": "carrier_pigeon"},
        {"source_ref": "a\r\nb"},
        {"text_hash": "abc"},
    ],
)
async def test_bad_values_are_refused_before_the_database(conn, changes: dict) -> None:
    sender_id = await _sender(conn)
    subscriber_id = await _subscriber(conn, sender_id)
    args = {"action": "subscribe", "source": "api", **changes}
    with pytest.raises(ValueError):
        await consent.record(conn, sender_id=sender_id, subscriber_id=subscriber_id, **args)


async def test_another_senders_subscriber_cannot_be_recorded(conn) -> None:
    sender_id = await _sender(conn)
    other_subscriber = await _subscriber(conn, await _sender(conn))
    async with conn.transaction():
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            async with conn.transaction():
                await consent.record(
                    conn,
                    sender_id=sender_id,
                    subscriber_id=other_subscriber,
                    action="subscribe",
                    source="api",
                )
    # the set-based variant skips it instead of failing the whole import
    own = await _subscriber(conn, sender_id)
    written = await consent.record_many(
        conn,
        sender_id=sender_id,
        subscriber_ids=[own, other_subscriber],
        action="subscribe",
        source="import",
        source_ref="7",
    )
    assert written == 1


async def test_records_cannot_be_rewritten_or_deleted(conn) -> None:
    sender_id = await _sender(conn)
    subscriber_id = await _subscriber(conn, sender_id)
    await consent.record(
        conn,
        sender_id=sender_id,
        subscriber_id=subscriber_id,
        action="subscribe",
        source="api",
        ip="198.51.100.1",
    )
    for sql in (
        "UPDATE consent_records SET action = 'unsubscribe' WHERE sender_id = %s",
        "UPDATE consent_records SET at = at - interval '1 day' WHERE sender_id = %s",
        "UPDATE consent_records SET ip = '192.0.2.1' WHERE sender_id = %s",
        "DELETE FROM consent_records WHERE sender_id = %s",
    ):
        assert "append-only" in await _refused(conn, sql, (sender_id,))
    other = await _subscriber(conn, sender_id)
    assert "append-only" in await _refused(
        conn,
        "UPDATE consent_records SET subscriber_id = %s WHERE sender_id = %s",
        (other, sender_id),
    )
    assert "append-only" in await _refused(conn, "TRUNCATE consent_records", ())


async def test_cutting_the_link_forgets_the_person_and_keeps_the_proof(conn) -> None:
    sender_id = await _sender(conn)
    subscriber_id = await _subscriber(conn, sender_id)
    await consent.record(
        conn,
        sender_id=sender_id,
        subscriber_id=subscriber_id,
        action="subscribe",
        source="form",
        source_ref="3",
        ip="198.51.100.1",
        user_agent="Safari",
        text_hash=consent.text_hash("wording"),
        detail={"first_name": "Ayşe"},
    )
    await conn.execute("DELETE FROM subscribers WHERE id = %s", (subscriber_id,))
    cur = await conn.execute(
        "SELECT subscriber_id, ip, user_agent, detail, erased_at, action, source, source_ref, "
        "text_hash FROM consent_records WHERE sender_id = %s",
        (sender_id,),
    )
    row = await cur.fetchone()
    assert row["subscriber_id"] is None and row["ip"] is None and row["user_agent"] is None
    assert row["detail"] is None and row["erased_at"] is not None
    assert (row["action"], row["source"], row["source_ref"]) == ("subscribe", "form", "3")
    assert row["text_hash"] == consent.text_hash("wording")


async def test_deleting_the_sender_takes_its_history(conn) -> None:
    sender_id = await _sender(conn)
    subscriber_id = await _subscriber(conn, sender_id)
    await consent.record(
        conn, sender_id=sender_id, subscriber_id=subscriber_id, action="subscribe", source="api"
    )
    await conn.execute("DELETE FROM senders WHERE id = %s", (sender_id,))
    cur = await conn.execute(
        "SELECT count(*) AS n FROM consent_records WHERE sender_id = %s", (sender_id,)
    )
    assert (await cur.fetchone())["n"] == 0
