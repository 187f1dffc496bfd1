"""db/0010_sending.sql: the foreign keys dropped from sends for dispatch speed are replaced by
statement-level triggers. Tenant checks on insert, and the ON DELETE behaviours, still hold."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.sender.conftest import make_email, make_sender, make_subscribers

INSERT = (
    "INSERT INTO sends (email_id, sender_id, subscriber_id, campaign_id) VALUES (%s, %s, %s, %s)"
)


def _campaign(conn: psycopg.Connection[Any], sender_id: int, email_id: int) -> int:
    row = conn.execute(
        "INSERT INTO campaigns (email_id, sender_id) VALUES (%s, %s) RETURNING id",
        (email_id, sender_id),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def test_inserts_cannot_cross_tenants(sync_conn: psycopg.Connection[Any]) -> None:
    mine, theirs = make_sender(sync_conn)["id"], make_sender(sync_conn)["id"]
    email_id, _ = make_email(sync_conn, mine, [{"subject": "s", "plain_body": "b"}])
    their_email, _ = make_email(sync_conn, theirs, [{"subject": "s", "plain_body": "b"}])
    my_sub = make_subscribers(sync_conn, mine, 1)[0]
    their_sub = make_subscribers(sync_conn, theirs, 1)[0]
    their_campaign = _campaign(sync_conn, theirs, their_email)
    for args, words in (
        ((email_id, mine, their_sub, None), "subscriber"),
        ((their_email, mine, my_sub, None), "email"),
        ((email_id, mine, my_sub, their_campaign), "campaign"),
    ):
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match=words):
            sync_conn.execute(INSERT, args)
    sync_conn.execute(INSERT, (email_id, mine, my_sub, _campaign(sync_conn, mine, email_id)))


def test_deletes_cascade_or_detach_like_the_foreign_keys(
    sync_conn: psycopg.Connection[Any],
) -> None:
    sender_id = make_sender(sync_conn)["id"]
    email_id, _ = make_email(sync_conn, sender_id, [{"subject": "s", "plain_body": "b"}])
    other_email, _ = make_email(sync_conn, sender_id, [{"subject": "s", "plain_body": "b"}])
    subs = make_subscribers(sync_conn, sender_id, 3)
    campaign_id = _campaign(sync_conn, sender_id, email_id)
    for sub in subs:
        sync_conn.execute(INSERT, (email_id, sender_id, sub, campaign_id))
        sync_conn.execute(INSERT, (other_email, sender_id, sub, None))

    def sends(email: int) -> list[tuple[Any, Any]]:
        rows = sync_conn.execute(
            "SELECT subscriber_id, campaign_id FROM sends WHERE email_id = %s ORDER BY id",
            (email,),
        ).fetchall()
        return [(r["subscriber_id"], r["campaign_id"]) for r in rows]

    # GDPR erase: the sends stay as anonymous counts.
    sync_conn.execute("DELETE FROM subscribers WHERE id = %s", (subs[0],))
    assert sends(email_id)[0] == (None, campaign_id)
    assert sends(other_email)[0] == (None, None)
    assert sends(email_id)[1] == (subs[1], campaign_id)
    sync_conn.execute("DELETE FROM campaigns WHERE id = %s", (campaign_id,))
    assert [c for _, c in sends(email_id)] == [None, None, None]
    sync_conn.execute("DELETE FROM emails WHERE id = %s", (email_id,))
    assert sends(email_id) == []
    assert len(sends(other_email)) == 3
