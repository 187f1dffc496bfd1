"""The database itself refuses what the 2013 schema refused."""

from __future__ import annotations

import psycopg
import pytest

from shared.migrate import migrate
from shared.senders import repository as senders
from tests.conftest import unique_address


async def _sender(conn: psycopg.AsyncConnection[dict]) -> int:
    row = await senders.create_sender(
        conn, address=unique_address("news"), name="News", public_base_url="https://l.example.com"
    )
    return int(row["id"])


async def _fails(conn: psycopg.AsyncConnection[dict], sql: str, params: tuple) -> str:
    async with conn.transaction():
        with pytest.raises(psycopg.errors.IntegrityError) as caught:
            async with conn.transaction():
                await conn.execute(sql, params)
    return str(caught.value)


@pytest.mark.parametrize(
    "address",
    [
        "not an address",
        "a@b",
        "@example.com",
        "a@@example.com",
        "a b@example.com",
        "x" * 250 + "@example.com",
    ],
)
async def test_bad_address_is_rejected(conn, address: str) -> None:
    sender_id = await _sender(conn)
    error = await _fails(
        conn, "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s)", (sender_id, address)
    )
    assert "email_address" in error


@pytest.mark.parametrize("locale", ["english", "tr", "TR_tr", "en-US", "en_us", ""])
async def test_bad_locale_is_rejected(conn, locale: str) -> None:
    sender_id = await _sender(conn)
    error = await _fails(
        conn,
        "INSERT INTO subscribers (sender_id, address, locale) VALUES (%s, %s, %s)",
        (sender_id, unique_address(), locale),
    )
    assert "locale" in error


@pytest.mark.parametrize("locale", ["C", "tr_TR", "en_US"])
async def test_good_locale_is_accepted(conn, locale: str) -> None:
    sender_id = await _sender(conn)
    await conn.execute(
        "INSERT INTO subscribers (sender_id, address, locale) VALUES (%s, %s, %s)",
        (sender_id, unique_address(), locale),
    )


async def _email(conn, sender_id: int) -> int:
    cur = await conn.execute(
        "INSERT INTO emails (sender_id, name) VALUES (%s, 'welcome') RETURNING id", (sender_id,)
    )
    return int((await cur.fetchone())["id"])


@pytest.mark.parametrize("plain, html", [(None, None), ("", ""), ("", None)])
async def test_variation_needs_a_body(conn, plain, html) -> None:
    email_id = await _email(conn, await _sender(conn))
    error = await _fails(
        conn,
        "INSERT INTO variations (email_id, subject, plain_body, html_body)"
        " VALUES (%s, 'Hi', %s, %s)",
        (email_id, plain, html),
    )
    assert "variation_has_body" in error


async def test_one_send_per_email_subscriber_and_occurrence(conn) -> None:
    sender_id = await _sender(conn)
    email_id = await _email(conn, sender_id)
    cur = await conn.execute(
        "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s) RETURNING id",
        (sender_id, unique_address()),
    )
    subscriber_id = (await cur.fetchone())["id"]
    insert = "INSERT INTO sends (email_id, sender_id, subscriber_id) VALUES (%s, %s, %s)"
    await conn.execute(insert, (email_id, sender_id, subscriber_id))
    error = await _fails(conn, insert, (email_id, sender_id, subscriber_id))
    # bulk sends: once per occurrence ('' for campaigns; db/0120, db/0177)
    assert "sends_email_subscriber_occurrence_once" in error
    yearly = (
        "INSERT INTO sends (email_id, sender_id, subscriber_id, occurrence) VALUES (%s, %s, %s, %s)"
    )
    await conn.execute(yearly, (email_id, sender_id, subscriber_id, "2030"))
    await conn.execute(yearly, (email_id, sender_id, subscriber_id, "2031"))
    error = await _fails(conn, yearly, (email_id, sender_id, subscriber_id, "2031"))
    assert "sends_email_subscriber_occurrence_once" in error
    indexes = await conn.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'sends' AND indexname LIKE %s",
        ("sends_email_subscriber%",),
    )
    assert [r["indexname"] for r in await indexes.fetchall()] == [
        "sends_email_subscriber_occurrence_once"  # the (email, subscriber) one of 0120 is gone
    ]


async def test_send_cannot_cross_senders(conn) -> None:
    mine, theirs = await _sender(conn), await _sender(conn)
    email_id = await _email(conn, mine)
    cur = await conn.execute(
        "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s) RETURNING id",
        (theirs, unique_address()),
    )
    their_subscriber = (await cur.fetchone())["id"]
    error = await _fails(
        conn,
        "INSERT INTO sends (email_id, sender_id, subscriber_id) VALUES (%s, %s, %s)",
        (email_id, mine, their_subscriber),
    )
    assert "foreign key" in error


async def test_email_state_transitions(conn) -> None:
    email_id = await _email(conn, await _sender(conn))
    error = await _fails(conn, "UPDATE emails SET state = 'sent' WHERE id = %s", (email_id,))
    assert "cannot go from draft to sent" in error
    for state in ("scheduled", "sending", "paused", "sending", "sent"):
        await conn.execute("UPDATE emails SET state = %s WHERE id = %s", (state, email_id))
    error = await _fails(conn, "UPDATE emails SET state = 'draft' WHERE id = %s", (email_id,))
    assert "cannot go from sent to draft" in error


async def test_send_state_transitions(conn) -> None:
    sender_id = await _sender(conn)
    email_id = await _email(conn, sender_id)
    cur = await conn.execute(
        "INSERT INTO sends (email_id, sender_id) VALUES (%s, %s) RETURNING id",
        (email_id, sender_id),
    )
    send_id = (await cur.fetchone())["id"]
    error = await _fails(conn, "UPDATE sends SET state = 'sent' WHERE id = %s", (send_id,))
    assert "cannot go from queued to sent" in error
    await conn.execute("UPDATE sends SET state = 'sending' WHERE id = %s", (send_id,))
    await conn.execute("UPDATE sends SET state = 'sent' WHERE id = %s", (send_id,))
    error = await _fails(conn, "UPDATE sends SET state = 'queued' WHERE id = %s", (send_id,))
    assert "cannot go from sent to queued" in error


def test_migrate_twice_is_a_no_op(database: str) -> None:
    assert migrate(database) == []


def test_hot_paths_are_indexed(sync_conn) -> None:
    indexes = {
        row["indexname"]: row["indexdef"]
        for row in sync_conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        )
    }
    assert "WHERE (state = 'queued'::send_state)" in indexes["sends_queued"]
    assert "gin (properties jsonb_path_ops)" in indexes["subscribers_properties"]
    assert "(sender_id, locale, state" in indexes["subscribers_audience"]


def _plan(sync_conn, sql: str, params: tuple) -> str:
    with sync_conn.transaction():
        sync_conn.execute("SET LOCAL enable_seqscan = off")  # may an index serve it at all?
        rows = sync_conn.execute("EXPLAIN " + sql, params).fetchall()
    return "\n".join(row["QUERY PLAN"] for row in rows)


@pytest.mark.parametrize(
    "lookup,params",
    [
        # the subscribers page and /v1/subscribers?address_prefix=
        ("SELECT id FROM subscribers WHERE sender_id = %s AND address LIKE %s", (1, "ada%")),
        ("SELECT id FROM subscribers WHERE sender_id = %s AND address = %s", (1, "a@b.example")),
        # the bounce matcher's last resort, across senders
        (
            "SELECT sub.id FROM senders se JOIN subscribers sub ON sub.sender_id = se.id"
            " WHERE sub.address = %s AND %s",
            ("a@b.example", True),
        ),
    ],
)
def test_one_unique_index_serves_every_address_lookup(sync_conn, lookup: str, params) -> None:
    assert "subscribers_sender_id_address_key" in _plan(sync_conn, lookup, params)


async def test_a_duplicate_address_still_names_the_unique_key(conn) -> None:
    sender_id = await _sender(conn)
    insert = "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s)"
    params = (sender_id, unique_address())
    await conn.execute(insert, params)
    assert "subscribers_sender_id_address_key" in await _fails(conn, insert, params)
