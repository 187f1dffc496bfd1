"""Statistics that tell the truth: the same numbers per email, variation, locale and day for a
sender with anonymous tracking as for one without, with proxied opens counted as human (and
shown as such), Apple Mail prefetches and link scanners counted apart, and clicks per link.

The events go in through the public service's real endpoints and events service; the numbers
come out of ``shared.statistics.service.email_report``, which the API and the admin both call
(and through the API and the admin themselves at the end)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from shared.emails import repository as emails
from shared.senders import repository as senders
from shared.statistics.service import email_report
from tests.admin.conftest import AdminClient
from tests.public.conftest import Public
from tests.public.world import World
from tests.statistics.scenario import (
    APPLE_IP,
    APPLE_PREFETCH,
    B_HTML,
    GMAIL_IP,
    GMAIL_PROXY,
    PERSON,
    PERSON_IP,
    REDIRECT_URL,
    _get,
    play,
)

KEYS = (
    "total", "pending", "sent", "opened", "opens", "proxied_opened", "proxied_opens",
    "machine_opens", "clicked", "clicks", "machine_clicks", "unsubscribed",
)  # fmt: skip


def numbers(counts: dict[str, Any]) -> tuple[int, ...]:
    return tuple(counts[key] for key in KEYS)


async def report(pool: AsyncConnectionPool, world: World, email_id: int, **kw: Any) -> Any:
    async with pool.connection() as conn:
        email = await emails.get_email(conn, world.sender_id, email_id)
        return await email_report(conn, world.sender_id, email, **kw)


@pytest.mark.parametrize("anonymous", [False, True], ids=["tracked", "anonymous"])
async def test_counts_per_email_variation_locale_and_day(
    public: Public, world_factory: Callable[..., World], pool: AsyncConnectionPool,
    anonymous: bool,
) -> None:  # fmt: skip
    world = world_factory(anonymous=anonymous)
    audience = await play(public, world)
    va, vb = audience.variation_a, audience.variation_b
    stats = await report(pool, world, audience.email_id)
    #                          total pend sent opnd opens pxd pxo mach clkd clks mclk unsub
    assert numbers(stats["total"]) == (6, 1, 5, 4, 5, 2, 2, 2, 3, 3, 1, 1)
    assert {v["variation_id"]: numbers(v) for v in stats["variations"]} == {
        va: (4, 1, 3, 3, 5, 2, 2, 0, 2, 2, 0, 1),
        vb: (2, 0, 2, 1, 0, 0, 0, 2, 1, 1, 1, 0),
    }
    assert {loc["locale"]: numbers(loc) for loc in stats["locales"]} == {
        "en_US": (3, 0, 3, 3, 4, 1, 1, 1, 3, 3, 0, 0),
        "tr_TR": (3, 1, 2, 1, 1, 1, 1, 1, 0, 0, 1, 1),
    }
    assert {d["day"]: numbers(d) for d in stats["days"]} == {
        audience.day1: (2, 0, 2, 2, 3, 1, 1, 0, 1, 1, 0, 1),
        audience.day2: (3, 0, 3, 2, 2, 1, 1, 2, 2, 2, 1, 0),
        None: (1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    }
    # machine_events=include adds the machine opens and clicks to the human ones.
    both = await report(pool, world, audience.email_id, include_machine=True)
    total = both["total"]
    assert (total["opened"], total["opens"], total["clicked"], total["clicks"]) == (5, 7, 4, 4)
    assert {v["variation_id"]: v["opened"] for v in both["variations"]} == {va: 3, vb: 2}


@pytest.mark.parametrize("anonymous", [False, True], ids=["tracked", "anonymous"])
async def test_clicks_per_link_and_variation(
    public: Public, world_factory: Callable[..., World], pool: AsyncConnectionPool,
    anonymous: bool,
) -> None:  # fmt: skip
    world = world_factory(anonymous=anonymous)
    audience = await play(public, world)
    va, vb = audience.variation_a, audience.variation_b
    links = (await report(pool, world, audience.email_id))["links"]
    unique = (lambda n: None) if anonymous else (lambda n: n)
    got = [
        (r["variation_id"], r["link_index"], r["url"], r["personalised"], r["clicks"],
         r["clickers"], r["machine_clicks"])
        for r in links
    ]  # fmt: skip
    assert got == [
        (va, None, REDIRECT_URL, False, 1, unique(1), 0),
        # World's HTML personalises link 0 with the address: shown as rendered without one.
        (va, 0, "https://example.org/a?u=", True, 0, 0, 0),
        (va, 1, "https://example.org/b", True, 1, unique(1), 0),
        (vb, None, REDIRECT_URL, False, 0, 0, 0),
        (vb, 0, "https://example.org/b-first", False, 1, unique(1), 1),  # + the scanner's
        (vb, 1, "https://example.org/b-second", False, 0, 0, 0),
    ]
    assert "b-first" in B_HTML


async def test_open_statistics_of_a_gmail_proxied_open_an_apple_prefetch_and_an_anonymous_sender(
    public: Public, world_factory: Callable[..., World], pool: AsyncConnectionPool
) -> None:
    """One open each: Gmail's proxy is a person (human, proxied), Apple Mail's prefetch is not
    (machine), and an anonymous sender's person is counted like anyone's."""
    tracked, anonymous = world_factory(), world_factory(anonymous=True)
    cases = [
        (tracked, GMAIL_PROXY, GMAIL_IP, (1, 1, 1, 1, 0)),
        (tracked, APPLE_PREFETCH, APPLE_IP, (0, 0, 0, 0, 1)),
        (anonymous, PERSON, PERSON_IP, (1, 1, 0, 0, 0)),
        (anonymous, GMAIL_PROXY, GMAIL_IP, (1, 1, 1, 1, 0)),
        (anonymous, APPLE_PREFETCH, APPLE_IP, (0, 0, 0, 0, 1)),
    ]
    emails = []
    for world, agent, ip, _expected in cases:
        email_id, variation_id = world.email()
        send = world.send(world.subscriber(), email_id=email_id, variation_id=variation_id)
        await _get(public, f"/o/{public.token(send)}", agent, ip)
        emails.append(email_id)
    assert await public.record() == len(cases)
    for (world, agent, _ip, expected), email_id in zip(cases, emails, strict=True):
        total = (await report(pool, world, email_id))["total"]
        keys = ("opened", "opens", "proxied_opened", "proxied_opens", "machine_opens")
        assert tuple(total[k] for k in keys) == expected, agent
        (variation,) = (await report(pool, world, email_id))["variations"]
        assert tuple(variation[k] for k in keys) == expected


async def test_an_anonymous_sender_keeps_no_trace_of_who_opened(
    public: Public, world_factory: Callable[..., World]
) -> None:
    """Anonymous: counters on the send, nothing else about the reader (no event tied to the
    send or the subscriber, no IP or user agent, no first time, no webhook)."""
    world = world_factory(anonymous=True, webhook_url="https://hooks.example.com/tart")
    world.db.execute(
        "UPDATE senders SET webhook_events = '{open,click}' WHERE id = %s", [world.sender_id]
    )
    send = world.send(world.subscriber())
    await _get(public, f"/o/{public.token(send)}", GMAIL_PROXY, GMAIL_IP)
    await _get(public, f"/c/{public.token(send)}/1", PERSON, PERSON_IP)
    assert await public.record() == 2
    row = world.row("SELECT * FROM sends WHERE id = %s", send)
    assert (row["open_count"], row["proxied_open_count"], row["click_count"]) == (1, 1, 1)
    assert row["opened_at"] is None and row["clicked_at"] is None
    events = world.rows("SELECT * FROM send_events WHERE email_id = %s", world.email_id)
    assert len(events) == 2
    for event in events:
        assert (event["send_id"], event["subscriber_id"], event["ip"], event["user_agent"]) == (
            None, None, None, None,
        )  # fmt: skip
    deliveries = world.rows(
        "SELECT 1 FROM webhook_deliveries WHERE sender_id = %s", world.sender_id
    )
    assert deliveries == []


@pytest.mark.parametrize("anonymous", [False, True], ids=["tracked", "anonymous"])
async def test_the_api_and_the_admin_show_the_same_numbers(
    public: Public, world_factory: Callable[..., World], pool: AsyncConnectionPool,
    api_app: FastAPI, owner: AdminClient, anonymous: bool,
) -> None:  # fmt: skip
    world = world_factory(anonymous=anonymous)
    audience = await play(public, world)
    async with pool.connection() as conn:
        key, _row = await senders.create_api_key(conn, world.sender_id, "statistics")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app),
        base_url="http://api.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as api:
        response = await api.get(f"/v1/emails/{audience.email_id}/statistics")
        assert response.status_code == 200, response.text
        body = response.json()
        assert numbers(body["total"]) == (6, 1, 5, 4, 5, 2, 2, 2, 3, 3, 1, 1)
        by_day = {d["day"]: numbers(d) for d in body["days"]}
        assert by_day[audience.day2.isoformat()] == (3, 0, 3, 2, 2, 1, 1, 2, 2, 2, 1, 0)
        assert [(r["link_index"], r["clicks"]) for r in body["links"]][:3] == [
            (None, 1), (0, 0), (1, 1),
        ]  # fmt: skip
        assert body["ab_test"] is None
        detail = (await api.get(f"/v1/sends/{audience.sends['s2']}")).json()
        if anonymous:  # summed in the statistics, never shown per send
            assert detail["open_count"] is None and detail["events"] == []
        else:
            assert detail["open_count"] == 1
            (event,) = [e for e in detail["events"] if e["kind"] == "open"]
            assert (event["machine"], event["proxy"]) == (False, "google_image_proxy")
    page = await owner.client.get(f"/senders/{world.sender_id}/statistics/{audience.email_id}")
    assert page.status_code == 200
    text = page.text
    assert "of which 2 via a mail provider" in text and "2 opens · 1 clicks" in text
    assert 'id="link-table"' in text and "https://example.org/b-first" in text
    assert ("n/a (anonymous)" in text) is anonymous
