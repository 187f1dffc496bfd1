"""Webhook SSRF guard (at save time and before each POST) and the maintenance loop's tick:
rate windows and idempotency keys purged, a delivery whose message was lost sent again."""

from __future__ import annotations

import asyncio

import pytest
from dramatiq import Worker
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

import services.api.actors as actors
from services.api import maintenance
from shared.config import Settings
from shared.db import transaction
from shared.webhooks import service as webhooks
from shared.webhooks.guard import RefusedTarget, check_url_syntax, resolve_target
from tests.api.conftest import Tenant
from tests.api.test_webhooks import Receiver, receiver, webhook_worker  # noqa: F401 - fixtures


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.1.2.3/x",
        "http://172.16.0.1/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[fd00::1]/x",
        "http://0.0.0.0/x",
        "http://localhost:8000/x",
        "https://user:pw@hooks.example.com/x",
        "ftp://hooks.example.com/x",
        "http://[",  # schemathesis found these two raising ValueError (a 500)
        "http://hooks.example.com:99999/x",
    ],
)
def test_refused_literals(url: str) -> None:
    with pytest.raises(RefusedTarget):
        check_url_syntax(url, allow_private=False)


async def test_resolution_is_checked_and_pinned() -> None:
    with pytest.raises(RefusedTarget):  # localhost, even written as a fully qualified name
        await resolve_target("http://localhost./hook", allow_private=False)
    target = await resolve_target("https://93.184.215.14:8443/hook?a=1", allow_private=False)
    assert target.url == "https://93.184.215.14:8443/hook?a=1"
    assert target.host_header == "93.184.215.14:8443"
    allowed = await resolve_target("http://localhost:9/h", allow_private=True)
    assert allowed.address in ("127.0.0.1", "::1") and allowed.host_header == "localhost:9"


async def test_patch_refuses_private_webhook_outside_dev(
    tenant: Tenant, api_app: FastAPI, settings: Settings
) -> None:
    original = api_app.state.settings
    api_app.state.settings = settings.model_copy(update={"webhook_allow_private": False})
    try:
        r = await tenant.client.patch(
            "/v1/sender", json={"webhook_url": "http://169.254.169.254/latest"}
        )
        assert r.status_code == 422 and "non-public" in r.json()["detail"]
        r = await tenant.client.patch(
            "/v1/sender", json={"webhook_url": "https://hooks.example.com/tart"}
        )
        assert r.status_code == 200
    finally:
        api_app.state.settings = original


async def test_worker_refuses_private_target(
    tenant: Tenant,
    pool: AsyncConnectionPool,
    receiver: tuple[Receiver, str],  # noqa: F811
    webhook_worker: Worker,  # noqa: F811
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, url = receiver
    # saved while private targets were allowed (dev), delivered once they are not (prod)
    assert (await tenant.client.patch("/v1/sender", json={"webhook_url": url})).status_code == 200
    strict = settings.model_copy(update={"webhook_allow_private": False})
    monkeypatch.setattr(actors, "get_settings", lambda: strict)
    async with transaction(pool) as tx:
        for m in await webhooks.emit(tx.conn, tenant.sender_id, "bounce", {"send_id": 1}):
            tx.enqueue(m)
    for _ in range(100):
        log = (await tenant.client.get("/v1/webhooks/deliveries")).json()["items"]
        if log and log[0]["state"] != "pending":
            break
        await asyncio.sleep(0.1)
    assert log[0]["state"] == "failed" and log[0]["last_error"].startswith("refused")
    assert "non-public" in log[0]["last_error"]
    assert state.requests == []


async def test_maintenance_tick(
    tenant: Tenant,
    pool: AsyncConnectionPool,
    receiver: tuple[Receiver, str],  # noqa: F811
    webhook_worker: Worker,  # noqa: F811
    settings: Settings,
) -> None:
    state, url = receiver
    assert (await tenant.client.patch("/v1/sender", json={"webhook_url": url})).status_code == 200
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO rate_counters (key, window_start, count) VALUES"
            " ('api:999999999', now() - interval '1 hour', 5),"
            " ('api:999999998', date_trunc('minute', now()), 5),"
            " ('send:other', now() - interval '1 hour', 5)"  # not the API's: left alone
        )
        await conn.execute(
            "INSERT INTO idempotency_keys (sender_id, key, request_hash, created_at) VALUES"
            " (%(s)s, 'old', '\\x00', now() - interval '2 days'),"
            " (%(s)s, 'new', '\\x00', now())",
            {"s": tenant.sender_id},
        )
        # a pending delivery whose queued message was lost an hour ago
        cur = await conn.execute(
            "INSERT INTO webhook_deliveries (sender_id, event, payload, next_attempt_at)"
            " VALUES (%s, 'bounce', '{\"send_id\": 9}', now() - interval '1 hour') RETURNING id",
            [tenant.sender_id],
        )
        row = await cur.fetchone()
        assert row is not None
        lost_id = row["id"]
        # Mailgun signature tokens: one seen long ago (its replay is stale anyway), one just now.
        await conn.execute(
            "INSERT INTO esp_nonces (provider, nonce, seen_at) VALUES"
            " ('mailgun', 'maint-old', now() - interval '1 day'), ('mailgun', 'maint-new', now())"
        )
    result = await maintenance.run_once(pool, settings)
    assert result.esp_nonces_purged >= 1
    assert result.rate_windows_purged >= 1 and result.idempotency_keys_purged >= 1
    assert lost_id in result.webhooks_requeued
    assert await asyncio.to_thread(state.got.wait, 20)
    assert b'"send_id":9' in state.requests[-1][1]
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT key FROM rate_counters WHERE key IN"
            " ('api:999999999', 'api:999999998', 'send:other') ORDER BY key"
        )
        assert [r["key"] for r in await cur.fetchall()] == ["api:999999998", "send:other"]
        cur = await conn.execute(
            "SELECT key FROM idempotency_keys WHERE sender_id = %s", [tenant.sender_id]
        )
        assert [r["key"] for r in await cur.fetchall()] == ["new"]
        cur = await conn.execute(
            "SELECT nonce FROM esp_nonces WHERE nonce IN ('maint-old', 'maint-new')"
        )
        assert [r["nonce"] for r in await cur.fetchall()] == ["maint-new"]
        await conn.execute("DELETE FROM esp_nonces WHERE nonce = 'maint-new'")
        await conn.execute("DELETE FROM rate_counters WHERE key = 'send:other'")
