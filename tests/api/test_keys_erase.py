"""API key list and revoke routes, and GDPR erase clearing stored Idempotency-Key answers."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from shared.senders import repository as senders
from tests.api.conftest import Tenant, make_tenant


async def test_list_and_revoke_keys(
    other: Tenant, pool: AsyncConnectionPool, api_app: FastAPI
) -> None:
    tenant = await make_tenant(pool, api_app, manage_keys=True)
    async with pool.connection() as conn:
        second_key, second = await senders.create_api_key(conn, tenant.sender_id, "second")
    r = await tenant.client.get("/v1/sender/keys")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [k["name"] for k in items] == ["tests", "second"]
    for item in items:
        assert set(item) == {
            "id", "name", "prefix", "rate_per_minute", "can_manage_keys", "created_at",
            "last_used_at", "revoked_at",
        }  # fmt: skip
        assert item["prefix"].startswith("tart_")
    assert second_key not in r.text and "hash" not in r.text
    # another sender's key is not found, to read or to revoke
    other_keys = (await other.client.get("/v1/sender/keys")).json()["items"]
    assert (await tenant.client.get(f"/v1/sender/keys/{other_keys[0]['id']}")).status_code == 404
    assert (await tenant.client.delete(f"/v1/sender/keys/{other_keys[0]['id']}")).status_code == 404
    assert (await other.client.get("/v1/sender")).status_code == 200
    # revoke the second key: it stops at once; the first still works; revoking again is a no-op
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app),
        base_url="http://t",
        headers={"Authorization": f"Bearer {second_key}"},
    ) as second_client:
        assert (await second_client.get("/v1/sender")).status_code == 200
        # a key without the right to manage keys cannot revoke another (a leaked plain key
        # cannot lock its sender out)
        refused = await second_client.delete(f"/v1/sender/keys/{items[0]['id']}")
        assert refused.status_code == 403 and "may not manage keys" in refused.json()["detail"]
        r = await tenant.client.delete(f"/v1/sender/keys/{second['id']}")
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
        assert (await second_client.get("/v1/sender")).status_code == 401
    again = await tenant.client.delete(f"/v1/sender/keys/{second['id']}")
    assert again.json()["revoked_at"] == r.json()["revoked_at"]
    # the calling key cannot revoke itself, so a sender is not locked out by mistake
    own = await tenant.client.delete(f"/v1/sender/keys/{items[0]['id']}")
    assert own.status_code == 409 and own.json()["error"] == "Conflict", own.text
    assert (await tenant.client.get("/v1/sender")).status_code == 200
    assert (await tenant.client.get("/v1/sender/keys/999999999")).status_code == 404
    await tenant.client.aclose()


async def test_erase_clears_stored_idempotent_answers(
    tenant: Tenant, pool: AsyncConnectionPool
) -> None:
    address = f"erase-me-{tenant.sender_id}@example.com"
    body = {"address": address, "properties": {"plan": "pro"}}
    headers = {"Idempotency-Key": "create-1"}
    r = await tenant.client.post("/v1/subscribers", json=body, headers=headers)
    assert r.status_code == 201
    subscriber_id = r.json()["id"]
    # an unrelated stored answer must survive the erase
    r = await tenant.client.post(
        "/v1/subscribers", json={"address": f"keep-{tenant.sender_id}@example.com"},
        headers={"Idempotency-Key": "create-2"},
    )  # fmt: skip
    assert r.status_code == 201
    replay = await tenant.client.post("/v1/subscribers", json=body, headers=headers)
    assert replay.status_code == 201 and replay.json()["address"] == address
    assert (await tenant.client.delete(f"/v1/subscribers/{subscriber_id}")).status_code == 204
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT key, status_code, response::text AS response FROM idempotency_keys"
            " WHERE sender_id = %s ORDER BY key",
            [tenant.sender_id],
        )
        rows = await cur.fetchall()
    assert [row["key"] for row in rows] == ["create-1", "create-2"]
    assert address not in rows[0]["response"] and rows[0]["status_code"] == 410
    assert f"keep-{tenant.sender_id}@example.com" in rows[1]["response"]
    # the retried request still does nothing twice: it gets the redacted answer
    replay = await tenant.client.post("/v1/subscribers", json=body, headers=headers)
    assert replay.status_code == 410 and address not in replay.text
    assert replay.json()["error"] == "Gone"
