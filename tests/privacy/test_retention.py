"""Retention: old events are rolled up and purged, raw inbound mail emptied and old webhook
logs deleted, in batches; the email's statistics (totals, per link, unique clickers, the
timeline) are the same before and after the purge."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from shared.config import Settings
from shared.privacy import retention
from shared.statistics import repository as statistics
from tests.api.conftest import Tenant

HTML = '<a href="https://example.org/a">A</a> <a href="https://example.org/b">B</a>'


def _email(conn: psycopg.Connection[dict], sender_id: int) -> tuple[int, int]:
    email = conn.execute(
        "INSERT INTO emails (sender_id, name, state) VALUES (%s, 'retained', 'sent') RETURNING id",
        (sender_id,),
    ).fetchone()["id"]
    variation = conn.execute(
        "INSERT INTO variations (email_id, subject, html_body) VALUES (%s, 'S', %s) RETURNING id",
        (email, HTML),
    ).fetchone()["id"]
    return email, variation


def _events(conn: psycopg.Connection[dict], sender_id: int, email: int, variation: int) -> None:
    """Sends with clicks on both links, some 100 days old and some fresh (one send has both on
    the same link: it must stay one unique clicker; another clicks a link on two old days),
    machine clicks, opens, an anonymous click."""
    subs = [
        conn.execute(
            "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s) RETURNING id",
            (sender_id, f"r{i}-{sender_id}@example.org"),
        ).fetchone()["id"]
        for i in range(4)
    ]
    sends = [
        conn.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id, variation_id, state, sent_at,"
            " opened_at, clicked_at, open_count, click_count) VALUES"
            " (%s, %s, %s, %s, 'sent', now() - interval '101 days', now() - interval '100 days',"
            " now() - interval '100 days', 1, 1) RETURNING id",
            (email, sender_id, sub, variation),
        ).fetchone()["id"]
        for sub in subs
    ]
    rows: list[tuple[Any, ...]] = [
        # (send, kind, link, machine, age in days)
        (sends[0], "click", 0, False, 100), (sends[0], "click", 0, False, 1),
        (sends[0], "click", 1, False, 100), (sends[1], "click", 0, False, 100),
        (sends[1], "click", 0, False, 100), (sends[2], "click", 1, True, 100),
        (sends[2], "open", None, False, 100), (sends[3], "open", None, True, 100),
        (sends[3], "click", 1, False, 2), (None, "click", 0, False, 100),
        # one send clicking one link on two days, both purged: still one unique clicker
        (sends[1], "click", 1, False, 99), (sends[1], "click", 1, False, 98),
    ]  # fmt: skip
    for send, kind, link, machine, age in rows:
        conn.execute(
            "INSERT INTO send_events (send_id, email_id, variation_id, kind, link_index, machine,"
            " at) VALUES (%s, %s, %s, %s, %s, %s, now() - make_interval(days => %s))",
            (send, email, variation, kind, link, machine, age),
        )


async def _stats(pool: AsyncConnectionPool, sender_id: int, email: int) -> dict[str, Any]:
    async with pool.connection() as conn:
        stats = await statistics.email_statistics(conn, sender_id, email, include_machine=False)
        links = await statistics.link_clicks(conn, email)
        timeline = {
            machine: await statistics.admin_email_timeline(
                conn, sender_id, email, bucket="day", include_machine=machine
            )
            for machine in (False, True)
        }
        await conn.rollback()
    return {"stats": stats, "links": links, "timeline": timeline}


async def test_statistics_are_equal_before_and_after_a_purge(
    tenant: Tenant, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict],
    settings: Settings,
) -> None:  # fmt: skip
    email, variation = _email(sync_conn, tenant.sender_id)
    _events(sync_conn, tenant.sender_id, email, variation)
    before = await _stats(pool, tenant.sender_id, email)
    by_link = {r["link_index"]: r for r in before["links"]}
    # the anonymous click makes link 0's unique clickers unknowable, as before any purge
    assert (by_link[0]["clicks"], by_link[0]["clickers"]) == (5, None)
    assert (by_link[1]["clicks"], by_link[1]["clickers"], by_link[1]["machine_clicks"]) == (
        4, 3, 1
    )  # fmt: skip

    sync_conn.execute(
        "UPDATE senders SET retention_events_days = 30 WHERE id = %s", (tenant.sender_id,)
    )
    purged = await retention.run(pool, settings, batch=3)  # several batches
    assert purged.events == 10
    left = sync_conn.execute(
        "SELECT count(*) AS n FROM send_events WHERE email_id = %s", (email,)
    ).fetchone()["n"]
    assert left == 2
    assert await _stats(pool, tenant.sender_id, email) == before
    assert (await retention.run(pool, settings)).events == 0  # nothing left to purge


async def test_unique_clickers_stay_exact_without_anonymous_clicks(
    tenant: Tenant, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict],
    settings: Settings,
) -> None:  # fmt: skip
    email, variation = _email(sync_conn, tenant.sender_id)
    _events(sync_conn, tenant.sender_id, email, variation)
    sync_conn.execute("DELETE FROM send_events WHERE email_id = %s AND send_id IS NULL", (email,))
    before = await _stats(pool, tenant.sender_id, email)
    by_link = {r["link_index"]: r for r in before["links"]}
    assert (by_link[0]["clicks"], by_link[0]["clickers"]) == (4, 2)
    sync_conn.execute(
        "UPDATE senders SET retention_events_days = 30 WHERE id = %s", (tenant.sender_id,)
    )
    await retention.run(pool, settings, batch=2)
    assert await _stats(pool, tenant.sender_id, email) == before


async def test_raw_mail_and_webhook_logs_are_purged_by_age(
    tenant: Tenant, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict],
    settings: Settings,
) -> None:  # fmt: skip
    def inbound(age_days: int) -> int:
        raw = f"bounce {tenant.sender_id} {age_days}".encode()
        row = sync_conn.execute(
            "INSERT INTO inbound_messages (sha256, raw, size, source, kind, state, received_at)"
            " VALUES (%s, %s, %s, 'pipe', 'bounce', 'parsed',"
            " now() - make_interval(days => %s)) RETURNING id",
            (hashlib.sha256(raw).digest(), raw, len(raw), age_days),
        ).fetchone()
        sync_conn.execute(
            "INSERT INTO response_reports (inbound_id, sender_id, kind, recipient)"
            " VALUES (%s, %s, 'bounce', %s)",
            (row["id"], tenant.sender_id, f"x{age_days}@example.org"),
        )
        return int(row["id"])

    old, fresh = inbound(40), inbound(5)
    for age in (40, 40, 5):
        sync_conn.execute(
            "INSERT INTO webhook_deliveries (sender_id, event, payload, state, created_at)"
            " VALUES (%s, 'bounce', '{}', 'delivered', now() - make_interval(days => %s))",
            (tenant.sender_id, age),
        )
    sync_conn.execute(
        "INSERT INTO webhook_deliveries (sender_id, event, payload, state, created_at)"
        " VALUES (%s, 'bounce', '{}', 'pending', now() - interval '40 days')",
        (tenant.sender_id,),
    )
    sync_conn.execute(
        "UPDATE senders SET retention_inbound_days = 30, retention_webhook_days = 30 WHERE id = %s",
        (tenant.sender_id,),
    )
    purged = await retention.run(pool, settings)
    assert (purged.inbound, purged.webhooks) == (1, 2)
    raws = {
        r["id"]: bytes(r["raw"])
        for r in sync_conn.execute(
            "SELECT id, raw FROM inbound_messages WHERE id = ANY(%s)", ([old, fresh],)
        ).fetchall()
    }
    assert raws[old] == b"" and raws[fresh] != b""
    reports = sync_conn.execute(
        "SELECT count(*) AS n FROM response_reports WHERE sender_id = %s", (tenant.sender_id,)
    ).fetchone()
    assert reports["n"] == 2  # the parsed reports stay
    states = sync_conn.execute(
        "SELECT state FROM webhook_deliveries WHERE sender_id = %s ORDER BY id",
        (tenant.sender_id,),
    ).fetchall()
    assert [s["state"] for s in states] == ["delivered", "pending"]  # a pending one is kept


async def test_retention_settings_through_the_api(tenant: Tenant, other: Tenant) -> None:
    assert (await tenant.client.get("/v1/sender/retention")).json() == {
        "events_days": None, "inbound_days": None, "webhook_days": None
    }  # fmt: skip
    r = await tenant.client.put(
        "/v1/sender/retention", json={"events_days": 90, "webhook_days": 30}
    )
    assert r.status_code == 200
    assert r.json() == {"events_days": 90, "inbound_days": None, "webhook_days": 30}
    for bad in ({"events_days": 0}, {"inbound_days": 40000}, {"events_days": "x"}, {"ever": 1}):
        refused = await tenant.client.put("/v1/sender/retention", json=bad)
        assert refused.status_code == 422, bad
    assert (await tenant.client.get("/v1/sender/retention")).json()["events_days"] == 90
    assert (await other.client.get("/v1/sender/retention")).json()["events_days"] is None
