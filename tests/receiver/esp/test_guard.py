"""The per-sender guard: bounces and complaints recorded through the one policy pause a running
campaign whose rate crosses the sender's threshold, with a webhook; below it, or before enough
messages are out, nothing pauses."""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from shared.campaigns import service as campaign_service
from shared.tokens import TokenCodec
from tests.receiver.conftest import World, make_world
from tests.receiver.esp import signing
from tests.receiver.esp.conftest import Providers, configure
from tests.receiver.esp.test_intake import parse_all


@pytest.fixture
def campaign(
    sync_conn: psycopg.Connection[dict], codec: TokenCodec, providers: Providers
) -> tuple[Providers, int, int]:
    """Ten sent messages of a running campaign, a sender pausing at 15% bounces (5 sent
    minimum) and subscribed to campaign_paused webhooks."""
    world = make_world(sync_conn, codec, count=10)
    configure(sync_conn, world.sender_id, providers)
    providers.world = world
    email_id = sync_conn.execute(
        "SELECT email_id FROM sends WHERE id = %s", (next(iter(world.sends.values())),)
    ).fetchone()["email_id"]
    sync_conn.execute("UPDATE emails SET state = 'sending' WHERE id = %s", (email_id,))
    campaign_id = sync_conn.execute(
        "INSERT INTO campaigns (email_id, sender_id, state, started_at)"
        " VALUES (%s, %s, 'sending', now()) RETURNING id",
        (email_id, world.sender_id),
    ).fetchone()["id"]
    sync_conn.execute(
        "UPDATE senders SET guard_bounce_rate = 0.15, guard_complaint_rate = 0.5,"
        " guard_min_sent = 5, webhook_url = 'https://hooks.example.com/tart',"
        " webhook_secret = 'whsec-0123456789abcdef', webhook_events = '{bounce,campaign_paused}'"
        " WHERE id = %s",
        (world.sender_id,),
    )
    return providers, email_id, campaign_id


async def bounce(client: httpx.AsyncClient, providers: Providers, addresses: list[str]) -> None:
    batch = [
        signing.sendgrid_event(
            "bounce",
            a,
            providers.message_id(a),
            type="bounce",
            status="5.1.1",
            reason="550 5.1.1 user unknown",
        )
        for a in addresses
    ]
    body = json.dumps(batch).encode()
    response = await client.post(
        providers.url("sendgrid"), content=body, headers=providers.sendgrid.headers(body)
    )
    assert response.status_code == 200, response.text


def recheck_now(conn: psycopg.Connection[dict], campaign_id: int) -> None:
    """As if the guard's recount interval had passed since the campaign's last check."""
    conn.execute(
        "UPDATE campaigns SET guard_checked_at = now() - interval '1 day' WHERE id = %s",
        (campaign_id,),
    )


def states(conn: psycopg.Connection[dict], email_id: int, campaign_id: int) -> tuple[str, str]:
    row = conn.execute(
        "SELECT e.state::text AS e, c.state::text AS c FROM emails e, campaigns c"
        " WHERE e.id = %s AND c.id = %s",
        (email_id, campaign_id),
    ).fetchone()
    return row["e"], row["c"]


async def test_bounce_rate_over_the_threshold_pauses_the_campaign(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    campaign: tuple[Providers, int, int],
) -> None:
    providers, email_id, campaign_id = campaign
    world: World = providers.world
    addresses = list(world.sends)

    await bounce(client, providers, addresses[:1])  # 1 of 10: 10%, under 15%
    await parse_all(pool, sync_conn, world.sender_id)
    assert states(sync_conn, email_id, campaign_id) == ("sending", "sending")

    recheck_now(sync_conn, campaign_id)  # the recount interval has passed
    await bounce(client, providers, addresses[1:2])  # 2 of 10: 20%, over 15%
    await parse_all(pool, sync_conn, world.sender_id)
    assert states(sync_conn, email_id, campaign_id) == ("paused", "paused")
    reason = sync_conn.execute(
        "SELECT paused_reason FROM campaigns WHERE id = %s", (campaign_id,)
    ).fetchone()["paused_reason"]
    assert reason.startswith("bounce_rate: 2 of 10 sent")
    async with pool.connection() as conn:  # what the admin and the API progress show
        shown = await campaign_service.progress(conn, sender_id=world.sender_id, email_id=email_id)
    assert shown["state"] == "paused" and shown["paused_reason"] == reason
    (hook,) = sync_conn.execute(
        "SELECT payload FROM webhook_deliveries WHERE sender_id = %s AND event = 'campaign_paused'",
        (world.sender_id,),
    ).fetchall()
    assert hook["payload"]["campaign_id"] == campaign_id
    assert (hook["payload"]["sent"], hook["payload"]["bounced"]) == (10, 2)

    # Another bounce on the paused campaign pauses nothing twice.
    recheck_now(sync_conn, campaign_id)
    await bounce(client, providers, addresses[2:3])
    await parse_all(pool, sync_conn, world.sender_id)
    count = sync_conn.execute(
        "SELECT count(*) FROM webhook_deliveries"
        " WHERE sender_id = %s AND event = 'campaign_paused'",
        (world.sender_id,),
    ).fetchone()["count"]
    assert count == 1


async def test_no_verdict_before_the_minimum_is_sent(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    campaign: tuple[Providers, int, int],
) -> None:
    providers, email_id, campaign_id = campaign
    sync_conn.execute(
        "UPDATE senders SET guard_min_sent = 11 WHERE id = %s", (providers.world.sender_id,)
    )
    await bounce(client, providers, list(providers.world.sends)[:5])  # 50%, but 10 < 11 sent
    await parse_all(pool, sync_conn, providers.world.sender_id)
    assert states(sync_conn, email_id, campaign_id) == ("sending", "sending")


async def test_recounts_wait_for_the_interval(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    campaign: tuple[Providers, int, int],
) -> None:
    """Checked once (under the rate), the campaign is not recounted within the interval: the
    count is what a burst of bounces costs once per campaign, not once per bounce."""
    providers, email_id, campaign_id = campaign
    addresses = list(providers.world.sends)
    await bounce(client, providers, addresses[:1])
    await parse_all(pool, sync_conn, providers.world.sender_id)
    # "Just checked" for the whole test, whatever the machine's speed (interval: 10 s default).
    sync_conn.execute(
        "UPDATE campaigns SET guard_checked_at = now() + interval '1 hour' WHERE id = %s",
        (campaign_id,),
    )
    await bounce(client, providers, addresses[1:4])
    await parse_all(pool, sync_conn, providers.world.sender_id)
    assert states(sync_conn, email_id, campaign_id) == ("sending", "sending")
    # Once the interval has passed, the next bounce recounts and pauses.
    recheck_now(sync_conn, campaign_id)
    await bounce(client, providers, addresses[4:5])
    await parse_all(pool, sync_conn, providers.world.sender_id)
    assert states(sync_conn, email_id, campaign_id) == ("paused", "paused")
