"""Sender A's key against each of sender B's objects, on every route: always 404, never data.
Also idempotency and the 2013 "gone" case of a send to an unsubscribed address."""

from __future__ import annotations

import json

from psycopg_pool import AsyncConnectionPool

from tests.api.conftest import Tenant, email_body
from tests.conftest import unique_address


async def _objects_of(t: Tenant, pool: AsyncConnectionPool) -> dict[str, int]:
    c = t.client
    sub = (await c.post("/v1/subscribers", json={"address": unique_address()})).json()
    email = (await c.post("/v1/emails", json=email_body())).json()
    job = (
        await c.post(
            "/v1/subscribers/imports",
            content=f"address\n{unique_address()}\n".encode(),
            headers={"Content-Type": "text/csv"},
        )
    ).json()
    await c.patch("/v1/sender", json={"webhook_url": "https://hooks.example.com/b"})
    async with pool.connection() as conn:
        send = await (
            await conn.execute(
                "INSERT INTO sends (email_id, sender_id, subscriber_id) VALUES (%s, %s, %s)"
                " RETURNING id",
                [email["id"], t.sender_id, sub["id"]],
            )
        ).fetchone()
        delivery = await (
            await conn.execute(
                "INSERT INTO webhook_deliveries (sender_id, event, payload)"
                " VALUES (%s, 'bounce', '{}') RETURNING id",
                [t.sender_id],
            )
        ).fetchone()
    return {
        "sub": sub["id"],
        "email": email["id"],
        "var": email["variations"][0]["id"],
        "job": job["id"],
        "send": send["id"],
        "delivery": delivery["id"],
    }


async def test_isolation_matrix(tenant: Tenant, other: Tenant, pool: AsyncConnectionPool) -> None:
    b = await _objects_of(other, pool)
    e, v, s = b["email"], b["var"], b["sub"]
    routes = [
        ("GET", f"/v1/subscribers/{s}", None),
        ("PATCH", f"/v1/subscribers/{s}", {"locale": "en_US"}),
        ("DELETE", f"/v1/subscribers/{s}", None),
        ("GET", f"/v1/subscribers/{s}/sends", None),
        ("GET", f"/v1/subscribers/imports/{b['job']}", None),
        ("GET", f"/v1/emails/{e}", None),
        ("PATCH", f"/v1/emails/{e}", {"name": "x"}),
        ("DELETE", f"/v1/emails/{e}", None),
        ("POST", f"/v1/emails/{e}/variations", {"subject": "x", "plain_body": "y"}),
        ("GET", f"/v1/emails/{e}/variations/{v}", None),
        ("PATCH", f"/v1/emails/{e}/variations/{v}", {"weight": 2}),
        ("DELETE", f"/v1/emails/{e}/variations/{v}", None),
        ("GET", f"/v1/emails/{e}/variations/{v}/preview", None),
        ("POST", f"/v1/emails/{e}/send", {}),
        ("POST", f"/v1/emails/{e}/send-to-subscriber", {"subscriber_id": s}),
        ("POST", f"/v1/emails/{e}/test-send", {"variation_id": v, "address": "a@example.com"}),
        ("POST", f"/v1/emails/{e}/pause", None),
        ("POST", f"/v1/emails/{e}/resume", None),
        ("POST", f"/v1/emails/{e}/cancel", None),
        ("POST", f"/v1/emails/{e}/retry-failed", None),
        ("GET", f"/v1/emails/{e}/progress", None),
        ("GET", f"/v1/emails/{e}/sends", None),
        ("GET", f"/v1/emails/{e}/statistics", None),
        ("GET", f"/v1/sends/{b['send']}", None),
        ("GET", f"/v1/webhooks/deliveries/{b['delivery']}", None),
        ("POST", f"/v1/webhooks/deliveries/{b['delivery']}/replay", None),
    ]
    for method, path, body in routes:
        r = await tenant.client.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json()["error"] == "NotFound"
    # A's own subscriber, with B's email: still 404, and nothing was queued
    mine = (await tenant.client.post("/v1/subscribers", json={"address": unique_address()})).json()
    r = await tenant.client.post(
        f"/v1/emails/{e}/send-to-subscriber", json={"subscriber_id": mine["id"]}
    )
    assert r.status_code == 404
    # lists never show B's rows
    text = json.dumps(
        [
            (await tenant.client.get(p)).json()
            for p in (
                "/v1/subscribers",
                "/v1/emails",
                "/v1/subscribers/imports",
                "/v1/webhooks/deliveries",
            )
        ]
    )
    assert str(other.address) not in text
    for value in b.values():
        assert f'"id": {value},' not in text or value == mine["id"]
    # B's objects are untouched
    assert (await other.client.get(f"/v1/subscribers/{s}")).status_code == 200
    assert (await other.client.get(f"/v1/emails/{e}")).json()["state"] == "draft"


async def test_idempotent_create_and_send(tenant: Tenant, pool: AsyncConnectionPool) -> None:
    c = tenant.client
    body = {"address": unique_address()}
    first = await c.post("/v1/subscribers", json=body, headers={"Idempotency-Key": "k-1"})
    again = await c.post("/v1/subscribers", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    other_body = await c.post(
        "/v1/subscribers", json={"address": unique_address()}, headers={"Idempotency-Key": "k-1"}
    )
    assert other_body.status_code == 422
    email = (await c.post("/v1/emails", json=email_body())).json()
    sub = (await c.post("/v1/subscribers", json={"address": unique_address()})).json()
    path = f"/v1/emails/{email['id']}/send-to-subscriber"
    r1 = await c.post(
        path, json={"subscriber_id": sub["id"]}, headers={"Idempotency-Key": "send-1"}
    )
    r2 = await c.post(
        path, json={"subscriber_id": sub["id"]}, headers={"Idempotency-Key": "send-1"}
    )
    assert r1.status_code == r2.status_code == 202, r1.text
    assert r1.json() == r2.json()
    async with pool.connection() as conn:
        n = await (
            await conn.execute("SELECT count(*) AS n FROM sends WHERE email_id = %s", [email["id"]])
        ).fetchone()
    assert n["n"] == 1
    # without the key a second send is refused as a duplicate, not queued twice
    assert (await c.post(path, json={"subscriber_id": sub["id"]})).status_code == 409


async def test_send_to_unsubscribed_is_gone(tenant: Tenant) -> None:
    c = tenant.client
    email = (await c.post("/v1/emails", json=email_body())).json()
    address = unique_address()
    sub = (await c.post("/v1/subscribers", json={"address": address})).json()
    await c.patch(f"/v1/subscribers/{sub['id']}", json={"state": "unsubscribed"})
    r = await c.post(f"/v1/emails/{email['id']}/send-to-subscriber", json={"address": address})
    assert r.status_code == 410 and r.json()["error"] == "Gone"
    r = await c.post(
        f"/v1/emails/{email['id']}/send-to-subscriber", json={"address": unique_address()}
    )
    assert r.status_code == 404


async def test_bulk_send_pause_cancel_progress(tenant: Tenant) -> None:
    c = tenant.client
    email = (await c.post("/v1/emails", json=email_body())).json()
    rows = [
        {"address": unique_address(), "properties": {"plan": "pro" if i < 3 else "free"}}
        for i in range(6)
    ]
    await c.post("/v1/subscribers/bulk", json={"subscribers": rows})
    eid = email["id"]
    body = {"filter": 'plan = "pro"', "scheduled_at": "2099-01-01T00:00:00Z"}
    r = await c.post(f"/v1/emails/{eid}/send", json=body, headers={"Idempotency-Key": "bulk-1"})
    assert r.status_code == 202, r.text
    assert r.json()["recipient_count"] == 3 and r.json()["state"] == "scheduled"
    again = await c.post(f"/v1/emails/{eid}/send", json=body, headers={"Idempotency-Key": "bulk-1"})
    assert again.json() == r.json()
    assert (await c.post(f"/v1/emails/{eid}/send", json=body)).status_code == 409
    assert (await c.post(f"/v1/emails/{eid}/pause")).status_code == 409
    r = await c.get(f"/v1/emails/{eid}/progress")
    assert r.status_code == 200 and r.json()["state"] == "scheduled"
    r = await c.post(f"/v1/emails/{eid}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert (await c.post(f"/v1/emails/{eid}/retry-failed")).status_code == 409
    assert (await c.post(f"/v1/emails/{eid}/resume")).status_code == 409
