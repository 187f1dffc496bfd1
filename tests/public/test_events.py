"""Event recording: escalation of states, first times and counts, machine traffic, anonymous
senders, idempotent batches, and the events.record actor on the real queue."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from psycopg_pool import AsyncConnectionPool

from shared.events import service
from shared.events.machine import Verdict, classify
from shared.events.models import wire_event
from tests.public.conftest import Public, record_queued_events
from tests.public.world import World

GOOGLE_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = (
    "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:9.0) Gecko/20100101 Firefox/9.0 YahooMailProxy"
)
PERSON = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile"


def _send(world: World, send: int) -> dict[str, object]:
    return world.row("SELECT * FROM sends WHERE id = %s", send)


FIRSTS = ("opened_at", "viewed_at", "clicked_at", "unsubscribed_at")


def _firsts(world: World, send: int) -> list[str]:
    """The first-event columns a send has, in the 2013 order open < view < click < unsubscribe."""
    row = _send(world, send)
    return [column for column in FIRSTS if row[column] is not None]


async def test_each_first_event_is_kept_in_the_2013_order(public: Public, world: World) -> None:
    send = world.send(world.subscriber())
    token = public.token(send)
    assert _firsts(world, send) == []
    await public.client.get(f"/o/{token}")
    await public.record()
    first_open = _send(world, send)["opened_at"]
    assert _firsts(world, send) == ["opened_at"]
    await public.client.get(f"/v/{token}")
    await public.record()
    assert _firsts(world, send) == ["opened_at", "viewed_at"]
    await public.client.get(f"/c/{token}/1")
    await public.record()
    assert _firsts(world, send) == ["opened_at", "viewed_at", "clicked_at"]
    await public.client.get(f"/o/{token}")  # a later open counts, and keeps the first time
    await public.record()
    row = _send(world, send)
    assert row["opened_at"] == first_open and row["open_count"] == 2
    await public.client.post(f"/u/{token}")
    assert _firsts(world, send) == list(FIRSTS)


async def test_a_click_without_an_open_is_a_click(public: Public, world: World) -> None:
    send = world.send(world.subscriber())
    await public.client.get(f"/c/{public.token(send)}/0")
    await public.record()
    assert _firsts(world, send) == ["clicked_at"]


@pytest.mark.parametrize(
    ("kind", "ip", "agent", "since", "reason"),
    [
        ("open", "17.58.101.2", "Mozilla/5.0", 3600, "apple_mpp"),
        ("open", "203.0.113.9", "Mozilla/5.0", 3600, "apple_mpp"),
        ("open", "17.1.1.1", PERSON, 3600, "apple_mpp"),
        ("open", "66.249.70.1", "Mozilla/5.0 (compatible; Googlebot/2.1)", 3600, "scanner_agent"),
        (
            "click",
            "203.0.113.9",
            "Mozilla/5.0 (compatible; Barracuda Sentinel)",
            3600,
            "scanner_agent",
        ),
        ("click", "203.0.113.9", "python-requests/2.31", 3600, "scanner_agent"),
        ("click", "40.94.30.5", PERSON, 3600, "microsoft_safe_links"),
        ("click", "148.163.130.1", PERSON, 3600, "proofpoint"),
        ("click", "203.0.113.9", PERSON, 2.0, "too_soon"),
        ("click", "203.0.113.9", None, 3600, "no_user_agent"),
        ("view", "203.0.113.9", "", 3600, "no_user_agent"),
    ],
)
def test_machine_rules_flag(
    kind: str, ip: str, agent: str | None, since: float, reason: str
) -> None:
    verdict = classify(kind, ip, agent, since, scanner_click_seconds=10)
    assert verdict.machine and verdict.reason == reason


@pytest.mark.parametrize(
    ("ip", "agent", "proxy"),
    [
        ("66.102.8.1", GOOGLE_PROXY, "google_image_proxy"),
        # Google's proxy fetches from its crawler's range too: the agent decides, not the range.
        ("66.249.84.20", GOOGLE_PROXY, "google_image_proxy"),
        ("98.137.11.163", YAHOO_PROXY, "yahoo_image_proxy"),
    ],
)
def test_an_open_through_gmail_or_yahoo_image_proxy_is_human_and_proxied(
    ip: str, agent: str, proxy: str
) -> None:
    """Changed on purpose (issue 18): these proxies fetch images when the reader opens the
    message, so the open is a person's, flagged with the proxy; they used to be machine."""
    verdict = classify("open", ip, agent, 3600, scanner_click_seconds=10)
    assert verdict == Verdict(False, None, proxy)


@pytest.mark.parametrize(
    ("kind", "ip", "agent", "since"),
    [
        ("open", "203.0.113.9", PERSON, 1.0),  # an open soon after sending is fine
        ("click", "203.0.113.9", PERSON, 30.0),
        ("click", "17.58.101.2", PERSON, 3600),  # Apple's range only flags opens
        ("click", "2001:db8::1", PERSON, None),
        ("click", "not-an-ip", PERSON, 3600),
    ],
)
def test_machine_rules_leave_people_alone(
    kind: str, ip: str, agent: str, since: float | None
) -> None:
    assert not classify(kind, ip, agent, since, scanner_click_seconds=10).machine


async def test_flagged_events_are_kept_but_not_counted(
    public: Public, world_factory: Callable[..., World]
) -> None:
    world = world_factory()
    fresh = world.send(world.subscriber(), sent_ago_s=1)
    token = public.token(fresh)
    await public.client.get(f"/c/{token}/0")  # within seconds of sending: a scanner
    await public.client.get(f"/o/{token}", headers={"user-agent": "Mozilla/5.0"})  # Apple MPP
    assert await public.record() == 2
    events = world.rows(
        "SELECT kind, machine, machine_reason FROM send_events WHERE send_id = %s ORDER BY id",
        fresh,
    )
    assert [(e["kind"], e["machine"], e["machine_reason"]) for e in events] == [
        ("click", True, "too_soon"),
        ("open", True, "apple_mpp"),
    ]
    row = _send(world, fresh)
    assert row["clicked_at"] is None and row["click_count"] == 0 and row["open_count"] == 0
    assert (row["machine_click_count"], row["machine_open_count"]) == (1, 1)


async def test_anonymous_sender_counts_without_tying_events_to_anyone(
    public: Public, world_factory: Callable[..., World]
) -> None:
    world = world_factory(anonymous=True)
    sub = world.subscriber()
    send = world.send(sub)
    token = public.token(send)
    await public.client.get(f"/o/{token}")
    await public.client.get(f"/c/{token}/1")
    assert await public.record() == 2
    events = world.rows("SELECT * FROM send_events WHERE email_id = %s ORDER BY id", world.email_id)
    assert [e["kind"] for e in events] == ["open", "click"]
    for event in events:
        assert event["send_id"] is None and event["subscriber_id"] is None
        assert event["ip"] is None and event["user_agent"] is None
        assert event["variation_id"] == world.variation_id
    # Changed on purpose (issue 18): the send counts them (statistics and the A/B winner read
    # the counters), but keeps no time of either and logs no webhook.
    row = _send(world, send)
    assert (row["open_count"], row["click_count"]) == (1, 1)
    assert row["opened_at"] is None and row["clicked_at"] is None
    await public.client.post(f"/u/{token}")
    unsub = world.row(
        "SELECT * FROM send_events WHERE email_id = %s AND kind = 'unsubscribe'", world.email_id
    )
    assert unsub["send_id"] is None and unsub["ip"] is None
    assert world.row("SELECT state FROM subscribers WHERE id = %s", sub)["state"] == "unsubscribed"


async def test_a_redelivered_batch_is_written_once(pool: AsyncConnectionPool, world: World) -> None:
    send = world.send(world.subscriber())
    batch_id = str(uuid.uuid4())
    events = [wire_event(send, "open", time.time(), "203.0.113.1", PERSON, None)] * 3
    for expected in (3, 0):
        async with pool.connection() as conn, conn.transaction():
            assert (await service.record_events(conn, batch_id, events)).events == expected
    assert _send(world, send)["open_count"] == 3


async def test_events_of_a_deleted_send_are_dropped(
    pool: AsyncConnectionPool, world: World
) -> None:
    gone, kept = world.send(world.subscriber()), world.send(world.subscriber())
    world.db.execute("DELETE FROM sends WHERE id = %s", [gone])
    events = [wire_event(s, "click", time.time(), None, PERSON, 0) for s in (gone, kept)]
    async with pool.connection() as conn, conn.transaction():
        assert (await service.record_events(conn, str(uuid.uuid4()), events)).events == 1


def test_the_actor_records_batches_from_the_real_events_queue(world: World) -> None:
    """The production path: the app's queue sink publishes events.record to RabbitMQ and the
    actor (in a dramatiq worker) writes the batch."""
    from prometheus_client import REGISTRY

    from services.public.buffer import queue_sink

    def recorded(kind: str, traffic: str) -> float:
        labels = {"kind": kind, "traffic": traffic}
        return REGISTRY.get_sample_value("tart_events_recorded_total", labels) or 0.0

    before = [recorded("open", "human"), recorded("open", "proxied"), recorded("click", "human")]
    sends = [world.send(world.subscriber()) for _ in range(3)]
    now = time.time()
    events = [wire_event(s, "open", now, "198.51.100.4", PERSON, None) for s in sends]
    events.append(wire_event(sends[0], "click", now, "198.51.100.4", PERSON, 1))
    events.append(wire_event(sends[1], "open", now, "66.249.84.20", GOOGLE_PROXY, None))
    queue_sink(str(uuid.uuid4()), events)
    record_queued_events()
    after = [recorded("open", "human"), recorded("open", "proxied"), recorded("click", "human")]
    assert [b - a for a, b in zip(before, after, strict=True)] == [3, 1, 1]
    counts = world.row(
        "SELECT count(*) AS n, sum(open_count) AS opens, sum(click_count) AS clicks "
        "FROM sends WHERE id = ANY(%s) AND opened_at IS NOT NULL",
        sends,
    )
    assert (counts["n"], counts["opens"], counts["clicks"]) == (3, 4, 1)


async def test_first_human_open_and_click_log_webhooks(
    public: Public, world_factory: Callable[..., World]
) -> None:
    world = world_factory(webhook_url="https://hooks.example.com/tart")
    world.db.execute(
        "UPDATE senders SET webhook_events = '{open,click,unsubscribe}' WHERE id = %s",
        [world.sender_id],
    )
    send = world.send(world.subscriber())
    token = public.token(send)
    for path in (f"/o/{token}", f"/o/{token}", f"/c/{token}/0", f"/c/{token}/1"):
        await public.client.get(path)
    await public.record()
    await public.client.get(f"/o/{token}")  # a later batch: no second open webhook
    await public.record()
    rows = world.rows(
        "SELECT event, payload FROM webhook_deliveries WHERE sender_id = %s ORDER BY event",
        world.sender_id,
    )
    assert [r["event"] for r in rows] == ["click", "open"]
    assert all(r["payload"]["send_id"] == send for r in rows)


async def test_odd_client_values_never_fail_a_batch(
    pool: AsyncConnectionPool, world: World
) -> None:
    """A proxy that passes "unknown" as the client address, or a NUL in a user agent, is stored
    as NULL / cleaned instead of failing the whole batch."""
    send = world.send(world.subscriber())
    events = [
        wire_event(send, "open", time.time(), "unknown", "Mozilla\x00/5.0 X", None),
        wire_event(send, "click", time.time(), "::ffff:203.0.113.5", PERSON, 0),
    ]
    async with pool.connection() as conn, conn.transaction():
        assert (await service.record_events(conn, str(uuid.uuid4()), events)).events == 2
    rows = world.rows("SELECT ip, user_agent FROM send_events WHERE send_id = %s ORDER BY id", send)
    assert rows[0]["ip"] is None and rows[0]["user_agent"] == "Mozilla/5.0 X"
    assert rows[1]["ip"] is not None
