"""The A/B decision on a real campaign row, with the test share's opens recorded by the events
service: an anonymous sender's opens count (they used to be invisible to the winner, which then
"won" by variation id), Apple Mail prefetches do not, a Gmail-proxied open does, and below the
minimum sample the rest gets the default variation. The statistics show the same decision."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from services.sender.dispatch import decide_winner
from shared import jobs
from shared.campaigns import abtest
from shared.config import Settings
from shared.events import service
from shared.events.models import wire_event
from shared.senders import repository as senders
from tests.admin.conftest import AdminClient
from tests.public.world import World

PERSON = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
HELD = 60


def _campaign(world: World, min_sends: int | None) -> tuple[int, int, int, dict[int, list[int]]]:
    """An email with variations A (the default) and B, a campaign in its testing state with 40
    test-share sends of each variation and HELD held ones."""
    email_id, va = world.email()
    vb = int(world.row(
        "INSERT INTO variations (email_id, name, subject, plain_body) "
        "VALUES (%s, 'B', 'B', 'b') RETURNING id", email_id,
    )["id"])  # fmt: skip
    world.db.execute("UPDATE variations SET name = 'A' WHERE id = %s", [va])
    campaign = int(world.row(
        "INSERT INTO campaigns (email_id, sender_id, state, ab_test_share, ab_wait, ab_metric,"
        " ab_min_sends, started_at) VALUES (%s, %s, 'testing', 0.5, '1 hour', 'open', %s,"
        " now() - interval '2 hours') RETURNING id", email_id, world.sender_id, min_sends,
    )["id"])  # fmt: skip
    sends: dict[int, list[int]] = {va: [], vb: []}
    for variation in (va, vb):
        for _ in range(40):
            send = world.send(world.subscriber(), email_id=email_id, variation_id=variation)
            world.db.execute("UPDATE sends SET campaign_id = %s WHERE id = %s", [campaign, send])
            sends[variation].append(send)
    for _ in range(HELD):
        world.db.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id, campaign_id, held)"
            " VALUES (%s, %s, %s, %s, true)",
            [email_id, world.sender_id, world.subscriber(), campaign],
        )
    return email_id, campaign, va, sends


async def _opens(pool: AsyncConnectionPool, events: Sequence[list[Any]]) -> None:
    async with pool.connection() as conn, conn.transaction():
        await service.record_events(conn, str(uuid.uuid4()), events)


async def _play(pool: AsyncConnectionPool, va: int, sends: dict[int, list[int]]) -> int:
    """A: 4 of 40 opened, every one prefetched by Apple Mail. B: 20 of 40 opened, 5 of them
    through Gmail's proxy, and 3 opened twice. Returns B's id."""
    (vb,) = (v for v in sends if v != va)
    now = time.time()
    events = [wire_event(s, "open", now, "17.58.101.2", "Mozilla/5.0", None) for s in sends[va]]
    events += [wire_event(s, "open", now, "198.51.100.9", PERSON, None) for s in sends[va][:4]]
    events += [wire_event(s, "open", now, "66.249.84.20", GMAIL_PROXY, None) for s in sends[vb][:5]]
    events += [wire_event(s, "open", now, "198.51.100.9", PERSON, None) for s in sends[vb][5:20]]
    events += [wire_event(s, "open", now, "198.51.100.9", PERSON, None) for s in sends[vb][:3]]
    await _opens(pool, events)
    return vb


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[jobs.Job]:
    """The jobs decide_winner publishes after its COMMIT, kept here instead of sent to RabbitMQ
    (where the session's sender worker would send the released rows)."""
    kept: list[jobs.Job] = []
    monkeypatch.setattr(jobs, "publish_blocking", kept.extend)
    return kept


@pytest.mark.parametrize("anonymous", [False, True], ids=["tracked", "anonymous"])
async def test_the_winner_counts_every_sender_opens_by_the_same_definition(
    world_factory: Callable[..., World], pool: AsyncConnectionPool, settings: Settings,
    anonymous: bool, published: list[jobs.Job],
) -> None:  # fmt: skip
    world = world_factory(anonymous=anonymous)
    email_id, campaign, va, sends = _campaign(world, min_sends=30)
    vb = await _play(pool, va, sends)
    async with pool.connection() as conn:  # while the test runs: what it would decide now
        live = await abtest.status(conn, world.sender_id, email_id)
    assert live is not None and live["decided"] is False and live["variation_id"] == vb
    assert await decide_winner(pool, campaign, settings=settings) == vb
    row = world.row("SELECT * FROM campaigns WHERE id = %s", campaign)
    result = row["ab_result"]
    assert (row["state"], row["winner_variation_id"], result["outcome"]) == (
        "sending",
        vb,
        "winner",
    )
    assert [(v["variation_id"], v["sent"], v["converted"]) for v in result["variations"]] == [
        (va, 40, 4), (vb, 40, 20),
    ]  # fmt: skip
    assert (result["margin_pp"], result["ci_low_pp"], result["ci_high_pp"]) == (40.0, 20.08, 56.11)
    assert (result["default_variation_id"], result["min_sends"]) == (va, 30)
    held = world.rows(
        "SELECT variation_id, held FROM sends WHERE campaign_id = %s AND state = 'queued'", campaign
    )
    assert len(held) == HELD and {(r["variation_id"], r["held"]) for r in held} == {(vb, False)}
    assert {job.actor_name for job in published} == {jobs.SEND_BATCH}  # the released rows
    async with pool.connection() as conn:
        shown = await abtest.status(conn, world.sender_id, email_id)
    assert shown is not None and shown["decided"] is True and shown["outcome"] == "winner"
    assert shown["reason"] == row["winner_reason"]


async def test_below_the_minimum_sample_the_rest_gets_the_default_variation(
    world_factory: Callable[..., World], pool: AsyncConnectionPool, settings: Settings,
    api_app: FastAPI, owner: AdminClient, published: list[jobs.Job],
) -> None:  # fmt: skip
    world = world_factory(anonymous=True)
    email_id, campaign, va, sends = _campaign(world, min_sends=None)  # the default, 100
    await _play(pool, va, sends)
    assert await decide_winner(pool, campaign, settings=settings) == va
    row = world.row("SELECT * FROM campaigns WHERE id = %s", campaign)
    assert row["winner_variation_id"] == va
    assert row["ab_result"]["outcome"] == "insufficient_sample"
    assert row["ab_result"]["min_sends"] == 100 and row["ab_result"]["margin_pp"] == 40.0
    assert (
        row["winner_reason"].startswith("insufficient sample: variation ")
        and "the rest gets the default, variation" in row["winner_reason"]
    )
    queued = world.rows(
        "SELECT DISTINCT variation_id FROM sends"
        " WHERE campaign_id = %s AND NOT held AND state = 'queued'",
        campaign,
    )
    assert [r["variation_id"] for r in queued] == [va]
    # A second decision (a redelivered message, the next scheduler tick) changes nothing.
    assert await decide_winner(pool, campaign, settings=settings) is None
    # The API and the admin show the decision, the sample, the margin and why.
    async with pool.connection() as conn:
        key, _row = await senders.create_api_key(conn, world.sender_id, "ab")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app), base_url="http://api.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as api:  # fmt: skip
        response = await api.get(f"/v1/emails/{email_id}/statistics")
    assert response.status_code == 200, response.text
    ab = response.json()["ab_test"]
    assert (ab["decided"], ab["outcome"], ab["variation_id"], ab["default_variation_id"]) == (
        True, "insufficient_sample", va, va,
    )  # fmt: skip
    assert (ab["min_sends"], ab["margin_pp"], ab["ci_low_pp"], ab["ci_high_pp"]) == (
        100, 40.0, 20.08, 56.11,
    )  # fmt: skip
    assert [(v["sent"], v["converted"]) for v in ab["variations"]] == [(40, 4), (40, 20)]
    assert ab["reason"] == row["winner_reason"]
    page = await owner.client.get(f"/senders/{world.sender_id}/statistics/{email_id}")
    assert page.status_code == 200
    assert "Not enough sends to decide: the rest got the default variation, A" in page.text
    assert "+40.00 points (95% interval +20.08 to +56.11)" in page.text
    assert 'A <span class="badge">default</span>' in page.text


async def test_a_decision_made_before_the_sample_was_stored_is_still_shown(
    world_factory: Callable[..., World], pool: AsyncConnectionPool, owner: AdminClient
) -> None:
    world = world_factory()
    email_id, campaign, va, _sends = _campaign(world, min_sends=None)
    world.db.execute(
        "UPDATE campaigns SET state = 'sending', winner_variation_id = %s, winner_at = now(),"
        " winner_reason = 'highest unique open rate over the test share' WHERE id = %s",
        [va, campaign],
    )
    async with pool.connection() as conn:
        shown = await abtest.status(conn, world.sender_id, email_id)
    assert shown is not None
    assert (shown["decided"], shown["outcome"], shown["variation_id"]) == (True, "winner", va)
    page = await owner.client.get(f"/senders/{world.sender_id}/statistics/{email_id}")
    assert page.status_code == 200 and "highest unique open rate over the test share" in page.text
    assert "Winner: A" in page.text and 'id="ab-margin"' not in page.text


async def test_a_test_left_without_variations_cancels_the_held_rest(
    world_factory: Callable[..., World],
    pool: AsyncConnectionPool,
    settings: Settings,
    published: list[jobs.Job],
) -> None:
    """It used to leave the held rows queued for ever, so the campaign never finished."""
    world = world_factory()
    email_id, campaign, _va, _sends = _campaign(world, min_sends=None)
    world.db.execute("UPDATE variations SET state = 'disabled' WHERE email_id = %s", [email_id])
    assert await decide_winner(pool, campaign, settings=settings) is None
    rest = world.rows(
        "SELECT state, error, held FROM sends WHERE campaign_id = %s AND state <> 'sent'", campaign
    )
    assert len(rest) == HELD
    assert {(r["state"], r["error"], r["held"]) for r in rest} == {
        ("cancelled", "no active variation", False)
    }
    assert world.row("SELECT state FROM campaigns WHERE id = %s", campaign)["state"] == "sending"
