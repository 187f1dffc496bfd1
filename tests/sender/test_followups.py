"""Resend to non-openers: the follow-up goes to those who received the email and did not open
it, where a machine-only open (privacy proxy, scanner) is not an open. The follow-up is another
email or a copy of the sent one with another variation and/or subject."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.sender.dispatch import dispatch
from shared.campaigns import followups
from shared.campaigns.followups import Followup
from shared.db import transaction
from shared.errors import Conflict, Unprocessable
from tests.fixtures.smtp import SmtpPeer
from tests.sender.conftest import (
    WorkerProcess,
    await_until,
    make_email,
    make_sender,
    make_subscribers,
)

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
            tx.conn, sender_id=sender["id"], email_id=first, followup=Followup(email_id=second),
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
                tx.conn, sender_id=sender["id"], email_id=first, followup=Followup(email_id=second),
                delay=timedelta(hours=1),
            )  # fmt: skip
        with pytest.raises(Unprocessable):
            await followups.resend_to_non_openers(
                tx.conn, sender_id=sender["id"], email_id=first, followup=Followup(email_id=first),
                delay=timedelta(hours=1),
            )  # fmt: skip
    sync_conn.execute("UPDATE emails SET state = 'sending' WHERE id = %s", [first])
    async with transaction(pool) as tx:
        campaign, messages = await followups.resend_to_non_openers(
            tx.conn, sender_id=sender["id"], email_id=first, followup=Followup(email_id=second),
            delay=timedelta(hours=48),
        )  # fmt: skip
    assert campaign["state"] == "scheduled" and messages == []
    assert campaign["filter"] == {"and": [{"received": first}, {"not": {"opened": first}}]}


TWO = [
    {"subject": "News", "plain_body": "Body A {{ unsubscribe_url }}\n"},
    {"subject": "Other", "plain_body": "Body B {{ unsubscribe_url }}\n"},
]


def _sent_to(
    sync_conn: Any, email_id: int, sender_id: int, opens: dict[int, tuple[int, int]]
) -> None:
    """``email_id`` went out to each subscriber with (human opens, machine opens)."""
    sync_conn.execute("UPDATE emails SET state = 'sending' WHERE id = %s", [email_id])
    for sub, (human, machine) in opens.items():
        sync_conn.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id, state, sent_at, open_count,"
            " machine_open_count) VALUES (%s, %s, %s, 'sent', now(), %s, %s)",
            [email_id, sender_id, sub, human, machine],
        )


async def test_a_copy_with_another_variation_and_subject_goes_to_non_openers(
    pool: Any, settings: Any, sync_conn: Any, smtp_peer: SmtpPeer, sender_worker: WorkerProcess
) -> None:
    sender = make_sender(sync_conn)
    first, (_a, b) = make_email(sync_conn, sender["id"], TWO)
    human, machine = make_subscribers(sync_conn, sender["id"], 2)
    _sent_to(sync_conn, first, sender["id"], {human: (1, 0), machine: (0, 4)})
    async with transaction(pool) as tx:
        campaign, _messages = await followups.resend_to_non_openers(
            tx.conn, sender_id=sender["id"], email_id=first,
            followup=Followup(subject="Missed it, {{ locale }}?", variation_id=b),
            delay=timedelta(0),
        )  # fmt: skip
    copy = campaign["email_id"]
    assert copy != first and campaign["planned_count"] == 1
    row = sync_conn.execute(
        "SELECT followup_of, name, state::text AS state FROM emails WHERE id = %s", [copy]
    ).fetchone()
    assert row["followup_of"] == first and row["name"].endswith("(follow-up)")
    variations = sync_conn.execute(
        "SELECT subject, plain_body, state::text AS state FROM variations WHERE email_id = %s",
        [copy],
    ).fetchall()
    assert [(v["subject"], v["plain_body"]) for v in variations] == [
        ("Missed it, {{ locale }}?", TWO[1]["plain_body"])
    ]
    await dispatch(pool, campaign["id"], settings=settings)
    address = sync_conn.execute(
        "SELECT address::text FROM subscribers WHERE id = %s", [machine]
    ).fetchone()["address"]
    await await_until(lambda: any(address in r.rcpt_tos for r in smtp_peer.received))
    (message,) = [r for r in smtp_peer.received if address in r.rcpt_tos]
    assert b"Subject: Missed it, C?" in message.data and b"Body B" in message.data
    got = sync_conn.execute("SELECT subscriber_id FROM sends WHERE email_id = %s", [copy])
    assert [r["subscriber_id"] for r in got.fetchall()] == [machine]  # the human opener: none


async def test_a_new_subject_alone_copies_every_active_variation(pool: Any, sync_conn: Any) -> None:
    sender = make_sender(sync_conn)
    first, (a, _b) = make_email(sync_conn, sender["id"], TWO)
    sync_conn.execute("UPDATE variations SET state = 'disabled' WHERE id = %s", [a])
    _sent_to(sync_conn, first, sender["id"], {})
    async with transaction(pool) as tx:
        campaign, messages = await followups.resend_to_non_openers(
            tx.conn, sender_id=sender["id"], email_id=first, followup=Followup(subject="Again"),
            delay=timedelta(hours=24),
        )  # fmt: skip
    assert campaign["state"] == "scheduled" and messages == []
    rows = sync_conn.execute(
        "SELECT subject, plain_body FROM variations WHERE email_id = %s", [campaign["email_id"]]
    ).fetchall()
    assert [(r["subject"], r["plain_body"]) for r in rows] == [("Again", TWO[1]["plain_body"])]


@pytest.mark.parametrize(
    "followup, field",
    [
        (Followup(), "followup_email_id"),  # neither an email nor a copy
        (Followup(email_id=-1, subject="x"), "followup_email_id"),  # both
        (Followup(subject="Two\r\nlines"), "subject"),
        (Followup(subject="Bcc: x\nSubject"), "subject"),
        (Followup(subject="x" * 999), "subject"),
        (Followup(subject="   "), "subject"),
        (Followup(subject="{{ unclosed"), "subject"),  # not a template
        (Followup(variation_id=-1), "variation_id"),  # another email's variation
        (Followup(email_id=-2), "followup_email_id"),  # another sender's email
    ],
)
async def test_a_followup_that_cannot_be_made_is_refused(
    pool: Any, sync_conn: Any, followup: Followup, field: str
) -> None:
    sender, intruder = make_sender(sync_conn), make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], TWO)
    _other, (foreign_variation, _) = make_email(sync_conn, sender["id"], TWO)
    theirs, _ = make_email(sync_conn, intruder["id"], TWO)
    _sent_to(sync_conn, first, sender["id"], {})
    stand_in = {-1: foreign_variation, -2: theirs}
    followup = Followup(
        email_id=stand_in.get(followup.email_id or 0, followup.email_id),
        subject=followup.subject,
        variation_id=stand_in.get(followup.variation_id or 0, followup.variation_id),
    )
    before = sync_conn.execute("SELECT count(*) AS n FROM emails").fetchone()["n"]
    with pytest.raises(Unprocessable) as refused:
        async with transaction(pool) as tx:
            await followups.resend_to_non_openers(
                tx.conn, sender_id=sender["id"], email_id=first, followup=followup,
                delay=timedelta(hours=1),
            )  # fmt: skip
    assert refused.value.detail.startswith(f"{field}: ")
    assert sync_conn.execute("SELECT count(*) AS n FROM emails").fetchone()["n"] == before
