"""Automations through the engine and the scheduler: triggers, waits, conditions, pause, edits,
leaving, and never a step twice across restarts and redelivered messages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from services.sender import scheduler
from services.sender.dispatch import dispatch
from shared.automations import engine
from shared.automations import repository as automations_repo
from shared.automations import service as automations
from shared.automations.service import Step
from shared.campaigns import service as campaigns
from shared.db import transaction
from shared.jobs import publish
from shared.segments import service as segments
from tests.fixtures.smtp import SmtpPeer
from tests.sender.conftest import (
    WorkerProcess,
    await_until,
    make_email,
    make_sender,
    make_subscribers,
)

VARIATION = [{"subject": "Welcome", "plain_body": "Hi {{ unsubscribe_url }}\n"}]
FOLLOW = [{"subject": "Second", "plain_body": "Again {{ unsubscribe_url }}\n"}]


async def _automation(pool: Any, sender_id: int, steps: list[Step], **kw: Any) -> int:
    values = {"trigger": "subscriber_active", "segment_id": None, "date_property": None,
              "active": True, **kw}  # fmt: skip
    async with transaction(pool) as tx:
        row = await automations.create(
            tx.conn, sender_id, name=f"seq-{datetime.now().timestamp()}", steps=steps, **values
        )
    return int(row["id"])


def _sends(sync_conn: Any, email_id: int) -> dict[int, int]:
    rows = sync_conn.execute(
        "SELECT subscriber_id, count(*) AS n FROM sends WHERE email_id = %s GROUP BY 1", [email_id]
    ).fetchall()
    return {r["subscriber_id"]: r["n"] for r in rows}


def _places(sync_conn: Any, automation_id: int) -> dict[int, tuple[int, str]]:
    rows = sync_conn.execute(
        "SELECT subscriber_id, position, state::text AS state FROM automation_progress"
        " WHERE automation_id = %s",
        [automation_id],
    ).fetchall()
    return {r["subscriber_id"]: (r["position"], r["state"]) for r in rows}


def _come_due(sync_conn: Any, automation_id: int) -> None:
    """Time passes: every waiting row is due, a wait included (it counts from due_at)."""
    sync_conn.execute(
        "UPDATE automation_progress SET due_at = now() - interval '400 days'"
        " WHERE automation_id = %s AND state = 'waiting'",
        [automation_id],
    )


async def test_a_sequence_walks_its_steps_once(pool: Any, sync_conn: Any) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    second, _ = make_email(sync_conn, sender["id"], FOLLOW)
    before = make_subscribers(sync_conn, sender["id"], 2)  # not new: they never enter
    async with transaction(pool) as tx:
        pros = await segments.create(tx.conn, sender["id"], f"pros-{first}", 'plan = "pro"')
    steps = [Step("send", email_id=first), Step("wait", wait_seconds=3600),
             Step("condition", segment_id=pros["id"]), Step("send", email_id=second)]  # fmt: skip
    aid = await _automation(pool, sender["id"], steps)
    people = make_subscribers(
        sync_conn, sender["id"], 6, properties=lambda i: {"plan": "pro" if i % 2 else "free"}
    )
    messages = await engine.run_pass(pool, 50)
    assert _sends(sync_conn, first) == {p: 1 for p in people}
    assert {m.args[0] for m in messages} >= {first}
    assert set(_places(sync_conn, aid).values()) == {(1, "waiting")}
    assert not set(before) & set(_places(sync_conn, aid))

    # nothing is due during the wait; passes and redeliveries change nothing
    await engine.run_pass(pool, 50)
    await publish(messages)
    assert _sends(sync_conn, first) == {p: 1 for p in people}
    assert set(_places(sync_conn, aid).values()) == {(1, "waiting")}

    _come_due(sync_conn, aid)
    await engine.run_pass(pool, 50)
    pro = {p for i, p in enumerate(people) if i % 2}
    assert set(_sends(sync_conn, second)) == pro
    places = _places(sync_conn, aid)
    assert {p for p, place in places.items() if place == (4, "done")} == pro
    assert {p for p, place in places.items() if place == (2, "stopped")} == set(people) - pro
    await engine.run_pass(pool, 50)
    assert _sends(sync_conn, first) == {p: 1 for p in people}
    assert _sends(sync_conn, second) == {p: 1 for p in pro}

    async with pool.connection() as conn:
        stats = await automations.statistics(conn, sender["id"], aid)
    assert stats["totals"] == {"done": 3, "stopped": 3}
    by_step = {s["position"]: s for s in stats["steps"]}  # type: ignore[attr-defined]
    assert by_step[0]["passed"] == 6 and by_step[2]["stopped"] == 3 and by_step[3]["passed"] == 3


async def test_unsubscribing_leaves_and_pause_holds(pool: Any, sync_conn: Any) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    second, _ = make_email(sync_conn, sender["id"], FOLLOW)
    steps = [Step("wait", wait_seconds=60), Step("send", email_id=first),
             Step("wait", wait_seconds=60), Step("send", email_id=second)]  # fmt: skip
    aid = await _automation(pool, sender["id"], steps)
    a, b, c = make_subscribers(sync_conn, sender["id"], 3)
    await engine.run_pass(pool, 50)
    sync_conn.execute("UPDATE subscribers SET state = 'unsubscribed' WHERE id = %s", [a])
    _come_due(sync_conn, aid)
    await engine.run_pass(pool, 50)
    assert set(_sends(sync_conn, first)) == {b, c}
    assert _places(sync_conn, aid)[a] == (1, "left")

    sync_conn.execute("UPDATE subscribers SET state = 'bounced' WHERE id = %s", [b])
    assert await engine.leave_inactive(pool) >= 1
    assert _places(sync_conn, aid)[b] == (2, "left")  # it had reached the second wait

    async with transaction(pool) as tx:
        await automations.update(tx.conn, sender["id"], aid, state="paused")
    _come_due(sync_conn, aid)
    await engine.run_pass(pool, 50)
    assert _places(sync_conn, aid)[c] == (2, "waiting") and _sends(sync_conn, second) == {}
    async with transaction(pool) as tx:
        await automations.update(tx.conn, sender["id"], aid, state="active")
    await engine.run_pass(pool, 50)  # the wait passed during the pause: it goes on at once
    assert _sends(sync_conn, second) == {c: 1}
    assert _places(sync_conn, aid)[c] == (4, "done")


async def test_an_edit_applies_to_those_who_have_not_reached_the_step(
    pool: Any, sync_conn: Any
) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    second, _ = make_email(sync_conn, sender["id"], FOLLOW)
    aid = await _automation(
        pool, sender["id"], [Step("send", email_id=first), Step("wait", wait_seconds=600)]
    )
    (early,) = make_subscribers(sync_conn, sender["id"], 1)
    await engine.run_pass(pool, 50)
    assert _places(sync_conn, aid)[early] == (1, "waiting")
    new_steps = [Step("send", email_id=first), Step("wait", wait_seconds=60),
                 Step("send", email_id=second)]  # fmt: skip
    async with transaction(pool) as tx:
        await automations.update(tx.conn, sender["id"], aid, steps=new_steps)
    _come_due(sync_conn, aid)
    await engine.run_pass(pool, 50)
    assert _sends(sync_conn, second) == {early: 1}  # the new third step
    assert _sends(sync_conn, first) == {early: 1}  # the first is not sent again


async def test_segment_created_and_date_triggers(pool: Any, sync_conn: Any) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    today = datetime.now(UTC)
    born = {0: f"1990-{today:%m-%d}", 1: "1990-01-01" if f"{today:%m-%d}" != "01-01" else
            "1990-06-15", 2: "not a date"}  # fmt: skip
    old = make_subscribers(sync_conn, sender["id"], 3, properties=lambda i: {"born": born[i],
                           "vip": i < 2})  # fmt: skip
    async with transaction(pool) as tx:
        vips = await segments.create(tx.conn, sender["id"], f"vip-{first}", "vip = true")
    by_segment = await _automation(
        pool, sender["id"], [], trigger="segment_entered", segment_id=vips["id"]
    )
    by_date = await _automation(pool, sender["id"], [], trigger="date_property",
                                date_property="born")  # fmt: skip
    created = await _automation(pool, sender["id"], [], trigger="subscriber_created")
    await engine.run_pass(pool, 50)
    assert set(_places(sync_conn, by_segment)) == {old[0], old[1]}
    assert set(_places(sync_conn, by_date)) == {old[0]}
    occurrence = sync_conn.execute(
        "SELECT occurrence FROM automation_progress WHERE automation_id = %s", [by_date]
    ).fetchone()["occurrence"]
    assert occurrence == f"{today:%Y}"
    assert _places(sync_conn, created) == {}
    (new,) = make_subscribers(sync_conn, sender["id"], 1, properties=lambda i: {"vip": True})
    sync_conn.execute("UPDATE automations SET entry_tried_at = NULL WHERE id = %s", [by_segment])
    await engine.run_pass(pool, 50)
    assert set(_places(sync_conn, created)) == {new}
    assert set(_places(sync_conn, by_segment)) == {old[0], old[1], new}
    assert set(_places(sync_conn, by_date)) == {old[0]}  # once a year


async def test_a_birthday_sequence_sends_once_every_year(pool: Any, sync_conn: Any) -> None:
    sender = make_sender(sync_conn)
    email, _ = make_email(sync_conn, sender["id"], VARIATION)
    born, other = make_subscribers(sync_conn, sender["id"], 2, properties=lambda i: {
        "born": "1990-03-14" if i == 0 else "1990-03-15"})  # fmt: skip
    aid = await _automation(pool, sender["id"], [Step("send", email_id=email)],
                            trigger="date_property", date_property="born")  # fmt: skip

    def rounds() -> list[tuple[int, str]]:
        rows = sync_conn.execute(
            "SELECT subscriber_id, occurrence FROM sends WHERE email_id = %s ORDER BY id", [email]
        ).fetchall()
        return [(r["subscriber_id"], r["occurrence"]) for r in rows]

    def try_entry_again() -> None:  # the next entry attempt, not a minute later
        sync_conn.execute(
            "UPDATE automations SET entry_tried_at = NULL, last_date_run = NULL WHERE id = %s",
            [aid],
        )

    await engine.run_pass(pool, 50, today=date(2030, 3, 14))
    assert rounds() == [(born, "2030")]
    # The same day again, a restarted scheduler: nobody enters twice, nothing is sent twice.
    try_entry_again()
    await engine.run_pass(pool, 50, today=date(2030, 3, 14))
    # The send step itself runs again for this year's row (its move on lost, a redelivery):
    # the once-only key (email, subscriber, occurrence) refuses the second send.
    sync_conn.execute(
        "UPDATE automation_progress SET position = 0, state = 'waiting' WHERE automation_id = %s",
        [aid],
    )
    await engine.run_pass(pool, 50, today=date(2030, 3, 14))
    assert rounds() == [(born, "2030")]
    assert _places(sync_conn, aid) == {born: (1, "done")}

    # A year later the birthday comes round: the mail goes out again, once.
    try_entry_again()
    await engine.run_pass(pool, 50, today=date(2031, 3, 14))
    try_entry_again()
    await engine.run_pass(pool, 50, today=date(2031, 3, 14))
    assert rounds() == [(born, "2030"), (born, "2031")]
    assert other not in dict(rounds())

    # Per-step statistics tie each year's progress to that year's send (not 2 x 2); queued
    # sends count as still to go until a worker has sent them.
    async with transaction(pool) as tx:
        stats = await automations.statistics(tx.conn, sender["id"], aid)
    assert [(s["queued"], s["sent"]) for s in stats["steps"]] == [(2, 0)]
    for state in ("sending", "sent"):
        sync_conn.execute("UPDATE sends SET state = %s, sent_at = now() WHERE email_id = %s",
                          [state, email])  # fmt: skip
    async with transaction(pool) as tx:
        stats = await automations.statistics(tx.conn, sender["id"], aid)
    (step,) = stats["steps"]
    assert step["sent"] == 2 and step["queued"] == 0 and step["passed"] == 2


async def test_a_campaign_still_sends_an_email_once_per_subscriber(
    pool: Any, settings: Any, sync_conn: Any
) -> None:
    """Campaign rows have occurrence '': (email, subscriber) stays once-only for them, and a
    campaign leaves out whoever got the email from a yearly sequence."""
    sender = make_sender(sync_conn)
    email, _ = make_email(sync_conn, sender["id"], VARIATION)
    had_it, yearly, fresh = make_subscribers(sync_conn, sender["id"], 3)
    sync_conn.execute(
        "INSERT INTO sends (email_id, sender_id, subscriber_id, occurrence) VALUES"
        " (%s, %s, %s, ''), (%s, %s, %s, '2030')",
        [email, sender["id"], had_it, email, sender["id"], yearly],
    )
    planned = []
    for _ in range(2):  # the second bulk send finds everyone served
        async with transaction(pool) as tx:
            campaign, _messages = await campaigns.queue_bulk_send(
                tx.conn, sender_id=sender["id"], email_id=email, locales=None, contains=None,
                filter=None, max_count=None, scheduled_at=None, ab=None,
            )  # fmt: skip
        planned.append(campaign["planned_count"])
        await dispatch(pool, campaign["id"], settings=settings)
        sync_conn.execute("UPDATE emails SET state = 'sent' WHERE id = %s", [email])
    assert planned == [1, 0]
    assert _sends(sync_conn, email) == {had_it: 1, yearly: 1, fresh: 1}


@pytest.mark.slow
async def test_a_sequence_keeps_going_across_scheduler_and_worker_restarts(
    pool: Any,
    settings: Any,
    sync_conn: Any,
    smtp_peer: SmtpPeer,
    sender_worker: WorkerProcess,
) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    second, _ = make_email(sync_conn, sender["id"], FOLLOW)
    steps = [Step("send", email_id=first), Step("wait", wait_seconds=60),
             Step("send", email_id=second)]  # fmt: skip
    aid = await _automation(pool, sender["id"], steps)
    people = make_subscribers(sync_conn, sender["id"], 4)
    addresses = {
        r["address"]
        for r in sync_conn.execute(
            "SELECT address::text FROM subscribers WHERE id = ANY(%s)", (people,)
        )
    }

    def received(subject: str) -> list[str]:
        return [
            t
            for r in smtp_peer.received
            if f"Subject: {subject}".encode() in r.data
            for t in r.rcpt_tos
            if t in addresses
        ]

    # The scheduler commits the first step and dies before publishing: the messages are lost.
    sender_worker.kill()
    lost = await engine.run_pass(pool, 50)
    assert lost
    # A restarted scheduler finds nothing new to do for that step ...
    assert not [m for m in await engine.run_pass(pool, 50) if m.args[0] == first]
    # ... and its sweep queues the orphaned rows again; the restarted worker sends them.
    sync_conn.execute(
        "UPDATE sends SET queued_at = now() - interval '1 hour' WHERE email_id = %s", [first]
    )
    sender_worker.start()
    await publish(await scheduler.sweep(pool, settings))
    await publish(lost)  # and the lost messages turn up after all: redelivered, harmless
    await await_until(lambda: len(received("Welcome")) >= 4)

    _come_due(sync_conn, aid)
    await scheduler.tick(pool, settings)
    await await_until(lambda: len(received("Second")) >= 4)
    await scheduler.tick(pool, settings)
    assert sorted(received("Welcome")) == sorted(addresses)
    assert sorted(received("Second")) == sorted(addresses)
    assert set(_places(sync_conn, aid).values()) == {(3, "done")}


async def test_a_pass_that_read_the_steps_before_an_edit_stops(pool: Any, sync_conn: Any) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    second, _ = make_email(sync_conn, sender["id"], FOLLOW)
    aid = await _automation(pool, sender["id"], [Step("send", email_id=first)])
    (person,) = make_subscribers(sync_conn, sender["id"], 1)
    async with pool.connection() as conn:
        stale = next(a for a in await automations_repo.runnable(conn) if a["id"] == aid)
    async with transaction(pool) as tx:  # the owner edits meanwhile
        await automations.update(tx.conn, sender["id"], aid, steps=[Step("send", email_id=second)])
    await engine.run_automation(pool, stale, 50)  # entered, but no step runs on the old list
    assert _sends(sync_conn, first) == {} and _places(sync_conn, aid) == {person: (0, "waiting")}
    await engine.run_pass(pool, 50)
    assert _sends(sync_conn, second) == {person: 1} and _sends(sync_conn, first) == {}


async def test_a_pending_subscriber_waits_and_a_confirmation_starts_the_active_trigger(
    pool: Any, sync_conn: Any
) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    second, _ = make_email(sync_conn, sender["id"], FOLLOW)
    created = await _automation(pool, sender["id"], [Step("send", email_id=first)],
                                trigger="subscriber_created")  # fmt: skip
    confirmed = await _automation(pool, sender["id"], [Step("send", email_id=second)])
    (person,) = make_subscribers(sync_conn, sender["id"], 1)
    sync_conn.execute("UPDATE subscribers SET state = 'pending' WHERE id = %s", [person])
    sync_conn.execute(  # as if it had been created pending (double opt-in)
        "UPDATE subscribers SET state_changed_at = created_at WHERE id = %s", [person]
    )
    await engine.run_pass(pool, 50)
    assert await engine.leave_inactive(pool) == 0
    assert _places(sync_conn, created) == {person: (0, "waiting")}  # waits for confirmation
    assert _places(sync_conn, confirmed) == {} and _sends(sync_conn, first) == {}
    # confirmed by whatever path: any statement that makes it active
    sync_conn.execute("UPDATE subscribers SET state = 'active' WHERE id = %s", [person])
    await engine.run_pass(pool, 50)
    assert _sends(sync_conn, first) == {person: 1} and _sends(sync_conn, second) == {person: 1}


@pytest.mark.parametrize("trigger", ["subscriber_created", "subscriber_active"])
async def test_newcomers_of_a_long_scheduler_outage_enter_chunk_by_chunk(
    pool: Any, sync_conn: Any, monkeypatch: pytest.MonkeyPatch, trigger: str
) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    aid = await _automation(pool, sender["id"], [Step("send", email_id=first)], trigger=trigger)
    # the scheduler last ran three hours ago, just after the sequence was made, and was down since
    sync_conn.execute(
        "UPDATE automations SET created_at = now() - interval '3 hours',"
        " entered_through = now() - interval '3 hours' WHERE id = %s",
        [aid],
    )
    people = make_subscribers(sync_conn, sender["id"], 5)
    column = "created_at" if trigger == "subscriber_created" else "state_changed_at"
    for i, person in enumerate(people):  # 160 to 40 minutes ago: long before the 5-minute overlap
        sync_conn.execute(
            f"UPDATE subscribers SET {column} = now() - make_interval(mins => %s) WHERE id = %s",
            [160 - 30 * i, person],
        )

    async with pool.connection() as conn, conn.transaction():
        assert await automations_repo.enter_new(conn, aid, trigger, 2) == (2, True)
    checkpoint = sync_conn.execute(
        f"SELECT (a.entered_through, a.entered_through_id) = (s.{column}, s.id) AS at_second"
        " FROM automations a, subscribers s WHERE a.id = %s AND s.id = %s",
        [aid, people[1]],
    ).fetchone()
    assert checkpoint["at_second"]  # the checkpoint moved to the last one taken, not to now

    monkeypatch.setattr(engine, "ENTRY_CHUNK", 2)
    await engine.run_pass(pool, 50)
    assert _sends(sync_conn, first) == {p: 1 for p in people}
    assert set(_places(sync_conn, aid)) == set(people)
    caught_up = sync_conn.execute(
        "SELECT entered_through > now() - interval '1 minute' AS recent FROM automations"
        " WHERE id = %s",
        [aid],
    ).fetchone()
    assert caught_up["recent"]


async def test_one_import_larger_than_a_chunk_enters_whole(
    pool: Any, sync_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    aid = await _automation(
        pool, sender["id"], [Step("send", email_id=first)], trigger="subscriber_created"
    )
    people = [r["id"] for r in sync_conn.execute(  # one statement: one created_at for all
        "INSERT INTO subscribers (sender_id, address) SELECT %s, 'imp' || g || '-' || %s"
        " || '@example.com' FROM generate_series(1, 5) g RETURNING id",
        [sender["id"], aid],
    ).fetchall()]  # fmt: skip
    monkeypatch.setattr(engine, "ENTRY_CHUNK", 2)
    await engine.run_pass(pool, 50)
    assert set(_places(sync_conn, aid)) == set(people)
    assert _sends(sync_conn, first) == {p: 1 for p in people}


@pytest.mark.parametrize("trigger", ["subscriber_created", "subscriber_active"])
async def test_a_subscriber_from_a_transaction_longer_than_the_look_back_enters(
    pool: Any, sync_conn: Any, database: str, trigger: str
) -> None:
    sender = make_sender(sync_conn)
    first, _ = make_email(sync_conn, sender["id"], VARIATION)
    aid = await _automation(pool, sender["id"], [Step("send", email_id=first)], trigger=trigger)
    with psycopg.connect(database, row_factory=dict_row) as long_tx:  # an import still running
        person = long_tx.execute(
            "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s) RETURNING id,"
            " now() AS began",
            [sender["id"], f"slow-{aid}@example.com"],
        ).fetchone()
        for _ in range(2):
            await engine.run_pass(pool, 50)
            settled = sync_conn.execute(
                "SELECT settled_through FROM automations WHERE id = %s", [aid]
            ).fetchone()["settled_through"]
            assert settled <= person["began"]  # not past a transaction still open
        # Passes went on for ten minutes while it ran: its row is dated before the checkpoint by
        # more than the five minutes of slack.
        sync_conn.execute(
            "UPDATE automations SET entered_through = entered_through + interval '10 minutes'"
            " WHERE id = %s",
            [aid],
        )
        long_tx.commit()
    await engine.run_pass(pool, 50)
    assert _places(sync_conn, aid) == {person["id"]: (1, "done")}
    assert _sends(sync_conn, first) == {person["id"]: 1}
