"""Resend to non-openers: the follow-up goes to those who received the email and did not open
it, where a machine-only open (privacy proxy, scanner) is not an open."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.sender.dispatch import dispatch
from shared.campaigns import followups
from shared.db import transaction
from shared.errors import Conflict, Unprocessable
from tests.sender.conftest import make_email, make_sender, make_subscribers

VARIATION = [{"subject": "News", "plain_body": "Hi {{ unsubscribe_url }}\n"}]


async def test_followup_reaches_non_openers_only(pool: Any, settings: Any, sync_conn: Any) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    second, _ = make_email(sync_conn, sender["id"], VARIATION)
    human, machine, nobody, clicked, bounced, queued = make_subscribers(sync_conn, sender["id"], 6)
    sync_conn.execute("UPDATE emails SET state = 'sending' WHERE id = %s", [first])
    rows = [  # subscriber, state, human opens, human clicks, machine opens, bounced
        (human, "sent", 2, 0, 0, False),
        (machine, "sent", 0, 0, 3, False),  # Apple Mail Privacy Protection only
        (nobody, "sent", 0, 0, 0, False),
        (clicked, "sent", 0, 1, 0, False),  # images blocked, but a human click
        (bounced, "sent", 0, 0, 0, True),
        (queued, "queued", 0, 0, 0, False),  # never went out
    ]
    for sub, state, opens, clicks, machine_opens, was_bounced in rows:
        sync_conn.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id, state, sent_at, open_count,"
            " click_count, machine_open_count, bounced_at) VALUES (%s, %s, %s, %s,"
            " CASE WHEN %s = 'sent' THEN now() END, %s, %s, %s, CASE WHEN %s THEN now() END)",
            [first, sender["id"], sub, state, state, opens, clicks, machine_opens, was_bounced],
        )
    async with transaction(pool) as tx:
        campaign, _messages = await followups.resend_to_non_openers(
            tx.conn, sender_id=sender["id"], email_id=first, followup_email_id=second,
            delay=timedelta(0),
        )  # fmt: skip
    assert campaign["planned_count"] == 2 and campaign["state"] == "dispatching"
    await dispatch(pool, campaign["id"], settings=settings)
    got = sync_conn.execute(
        "SELECT subscriber_id FROM sends WHERE email_id = %s ORDER BY subscriber_id", [second]
    ).fetchall()
    assert [r["subscriber_id"] for r in got] == sorted([machine, nobody])


async def test_a_delayed_followup_is_scheduled_and_checked(pool: Any, sync_conn: Any) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    second, _ = make_email(sync_conn, sender["id"], VARIATION)
    async with transaction(pool) as tx:
        with pytest.raises(Conflict):  # the first email has not gone out
            await followups.resend_to_non_openers(
                tx.conn, sender_id=sender["id"], email_id=first, followup_email_id=second,
                delay=timedelta(hours=1),
            )  # fmt: skip
        with pytest.raises(Unprocessable):
            await followups.resend_to_non_openers(
                tx.conn, sender_id=sender["id"], email_id=first, followup_email_id=first,
                delay=timedelta(hours=1),
            )  # fmt: skip
    sync_conn.execute("UPDATE emails SET state = 'sending' WHERE id = %s", [first])
    async with transaction(pool) as tx:
        campaign, messages = await followups.resend_to_non_openers(
            tx.conn, sender_id=sender["id"], email_id=first, followup_email_id=second,
            delay=timedelta(hours=48),
        )  # fmt: skip
    assert campaign["state"] == "scheduled" and messages == []
    assert campaign["filter"] == {"and": [{"received": first}, {"not": {"opened": first}}]}
