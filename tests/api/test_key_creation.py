"""API keys created through the API (POST /v1/sender/keys), the admin and the CLI: each gets the
rate limit set for it, only a key that may manage keys creates one, and it cannot grant more than
it has."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from shared.senders import repository as senders
from tests.api.conftest import Tenant


def _client(app: FastAPI, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api.test",
        headers={"Authorization": f"Bearer {key}"},
    )


@pytest.fixture
async def manager(
    tenant: Tenant, pool: AsyncConnectionPool, api_app: FastAPI
) -> AsyncIterator[httpx.AsyncClient]:
    """A key of the tenant's sender that may manage keys, limited to 100 requests a minute."""
    async with pool.connection() as conn:
        key, _row = await senders.create_api_key(
            conn, tenant.sender_id, "manager", rate_per_minute=100, can_manage_keys=True
        )
    async with _client(api_app, key) as client:
        yield client


async def _key_row(pool: AsyncConnectionPool, key_id: int) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT sender_id, name, rate_per_minute, can_manage_keys FROM api_keys WHERE id = %s",
            [key_id],
        )
        row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def test_a_key_without_the_right_gets_403_and_creates_nothing(
    tenant: Tenant, pool: AsyncConnectionPool
) -> None:
    before = (await tenant.client.get("/v1/sender/keys")).json()["items"]
    r = await tenant.client.post("/v1/sender/keys", json={"name": "mine"})
    assert r.status_code == 403 and r.json()["error"] == "Forbidden", r.text
    assert "may not manage keys" in r.json()["detail"]
    assert (await tenant.client.get("/v1/sender/keys")).json()["items"] == before


async def test_a_created_key_gets_its_rate_limit_and_works(
    tenant: Tenant, manager: httpx.AsyncClient, pool: AsyncConnectionPool, api_app: FastAPI
) -> None:
    r = await manager.post("/v1/sender/keys", json={"name": "shop", "rate_per_minute": 2})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["key"].startswith("tart_") and created["prefix"] == created["key"][:12]
    assert (created["name"], created["rate_per_minute"], created["can_manage_keys"]) == (
        "shop",
        2,
        False,
    )
    assert await _key_row(pool, created["id"]) == {
        "sender_id": tenant.sender_id, "name": "shop", "rate_per_minute": 2,
        "can_manage_keys": False,
    }  # fmt: skip
    listed = (await tenant.client.get("/v1/sender/keys")).json()["items"]
    assert created["key"] not in str(listed)
    assert {k["id"]: k["rate_per_minute"] for k in listed}[created["id"]] == 2
    async with _client(api_app, created["key"]) as shop:
        statuses = [(await shop.get("/v1/sender")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]  # the limit set for it is the one enforced


async def test_a_key_cannot_grant_more_than_it_has(
    manager: httpx.AsyncClient, pool: AsyncConnectionPool, api_app: FastAPI
) -> None:
    over = await manager.post("/v1/sender/keys", json={"rate_per_minute": 101})
    assert over.status_code == 403 and over.json()["detail"].startswith("rate_per_minute")
    # no rate given: the default, but never above the calling key's own 100
    default = await manager.post("/v1/sender/keys", json={"name": "default"})
    assert default.status_code == 201 and default.json()["rate_per_minute"] == 100
    # a manager may make another manager, which may make keys in turn
    deputy = await manager.post(
        "/v1/sender/keys", json={"rate_per_minute": 50, "can_manage_keys": True}
    )
    assert deputy.status_code == 201 and deputy.json()["can_manage_keys"] is True
    async with _client(api_app, deputy.json()["key"]) as client:
        assert (
            await client.post("/v1/sender/keys", json={"rate_per_minute": 51})
        ).status_code == 403
        made = await client.post("/v1/sender/keys", json={"rate_per_minute": 50})
        assert made.status_code == 201 and made.json()["rate_per_minute"] == 50


async def test_out_of_range_or_unknown_fields_are_422(manager: httpx.AsyncClient) -> None:
    for body in ({"rate_per_minute": 0}, {"can_manage_keys": "yes"}, {"scopes": ["all"]}):
        r = await manager.post("/v1/sender/keys", json=body)
        assert r.status_code == 422, (body, r.text)


def test_the_cli_sets_the_rate_and_the_right(tenant: Tenant, sync_conn: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "create-api-key", "--sender-id",
         str(tenant.sender_id), "--name", "ops", "--rate-per-minute", "42", "--can-manage-keys"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "42 requests a minute, may manage keys" in result.stdout
    row = sync_conn.execute(
        "SELECT rate_per_minute, can_manage_keys FROM api_keys"
        " WHERE sender_id = %s AND name = 'ops'",
        [tenant.sender_id],
    ).fetchone()
    assert (row["rate_per_minute"], row["can_manage_keys"]) == (42, True)
    bad = subprocess.run(
        [sys.executable, "-m", "shared.cli", "create-api-key", "--sender-id",
         str(tenant.sender_id), "--rate-per-minute", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "rate-per-minute" in bad.stderr


def test_a_cli_key_without_options_gets_the_default_and_no_right(
    tenant: Tenant, sync_conn: Any
) -> None:
    name = f"plain-{uuid.uuid4().hex[:6]}"
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "create-api-key", "--sender-id",
         str(tenant.sender_id), "--name", name],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    row = sync_conn.execute(
        "SELECT rate_per_minute, can_manage_keys FROM api_keys WHERE name = %s", [name]
    ).fetchone()
    assert (row["rate_per_minute"], row["can_manage_keys"]) == (600, False)
