"""Auth, the 2013 error cases, subscribers, emails, reports: every route through the ASGI app."""

from __future__ import annotations

import base64

import httpx
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from tests.api.conftest import Tenant, email_body, make_tenant
from tests.conftest import unique_address


async def test_no_key_is_401_with_www_authenticate(api_app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app), base_url="http://t"
    ) as client:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic !!"}):
            r = await client.get("/v1/sender", headers=headers)
            assert r.status_code == 401
            assert "Bearer" in r.headers["WWW-Authenticate"]
            assert r.json()["error"] == "Unauthorized"


async def test_basic_auth_with_sender_address(tenant: Tenant, api_app: FastAPI) -> None:
    good = base64.b64encode(f"{tenant.address}:{tenant.key}".encode()).decode()
    bad = base64.b64encode(f"someone@example.com:{tenant.key}".encode()).decode()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app), base_url="http://t"
    ) as client:
        r = await client.get("/v1/sender", headers={"Authorization": f"Basic {good}"})
        assert r.status_code == 200 and r.json()["address"] == tenant.address
        r = await client.get("/v1/sender", headers={"Authorization": f"Basic {bad}"})
        assert r.status_code == 401


async def test_revoked_key_and_last_used(tenant: Tenant, pool: AsyncConnectionPool) -> None:
    assert (await tenant.client.get("/v1/sender")).status_code == 200
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT last_used_at FROM api_keys WHERE sender_id = %s", [tenant.sender_id]
        )
        assert (await cur.fetchone())["last_used_at"] is not None
        await conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE sender_id = %s", [tenant.sender_id]
        )
    assert (await tenant.client.get("/v1/sender")).status_code == 401


async def test_rate_limit_429_with_retry_after(pool: AsyncConnectionPool, api_app: FastAPI) -> None:
    t = await make_tenant(pool, api_app, rate=3)
    codes = [(await t.client.get("/v1/sender")).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    r = await t.client.get("/v1/sender")
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.json()["error"] == "RateLimited"
    await t.client.aclose()


async def test_2013_error_cases(tenant: Tenant) -> None:
    c = tenant.client
    # wrong content type
    r = await c.post(
        "/v1/subscribers",
        content=b"address=a@b.com",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415 and r.json()["error"] == "UnsupportedMediaType"
    # a JSON array at the top level
    r = await c.post("/v1/subscribers", json=[{"address": "a@example.com"}])
    assert r.status_code == 422 and r.json()["error"] == "ValidationError"
    # unknown field
    r = await c.post("/v1/subscribers", json={"address": unique_address(), "colour": "red"})
    assert r.status_code == 422 and "colour" in r.json()["detail"]
    # unknown route and wrong method
    r = await c.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "NotFound"
    r = await c.delete("/v1/sender")
    assert r.status_code == 405 and r.json()["error"] == "MethodNotAllowed"
    # missing subscriber
    r = await c.get("/v1/subscribers/999999999")
    assert r.status_code == 404 and r.json() == {
        "error": "NotFound",
        "detail": "no such subscriber",
    }
    # malformed JSON and a bad address
    r = await c.post("/v1/subscribers", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = await c.post("/v1/subscribers", json={"address": "not an address"})
    assert r.status_code == 422
    # oversize body
    big = b'{"address": "' + b"a" * (17 * 1024 * 1024) + b'"}'
    r = await c.post("/v1/subscribers", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "PayloadTooLarge"


async def test_subscriber_crud_and_erase(tenant: Tenant, pool: AsyncConnectionPool) -> None:
    c = tenant.client
    address = unique_address()
    r = await c.post(
        "/v1/subscribers",
        json={"address": address.upper(), "locale": "en_US", "properties": {"plan": "pro"}},
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["address"] == address and sub["state"] == "active"
    assert (await c.post("/v1/subscribers", json={"address": address})).status_code == 409
    r = await c.put(
        "/v1/subscribers",
        json={"address": address, "locale": "tr_TR", "properties": {"plan": "free"}},
    )
    assert r.status_code == 200 and r.json()["locale"] == "tr_TR"
    r = await c.put("/v1/subscribers", json={"address": unique_address()})
    assert r.status_code == 201
    r = await c.patch(
        f"/v1/subscribers/{sub['id']}",
        json={"merge_properties": {"age": 30, "plan": None}, "state": "unsubscribed"},
    )
    assert r.status_code == 200 and r.json()["properties"] == {"age": 30}
    assert r.json()["state"] == "unsubscribed"
    assert (await c.get(f"/v1/subscribers/{sub['id']}")).json()["id"] == sub["id"]
    assert (await c.get(f"/v1/subscribers/{sub['id']}/sends")).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert (await c.delete(f"/v1/subscribers/{sub['id']}")).status_code == 204
    assert (await c.get(f"/v1/subscribers/{sub['id']}")).status_code == 404
    assert (await c.delete(f"/v1/subscribers/{sub['id']}")).status_code == 404


async def test_list_filters_and_cursor(tenant: Tenant) -> None:
    c = tenant.client
    rows = [
        {
            "address": f"p{i}-{tenant.sender_id}@example.com",
            "locale": "en_US" if i % 2 else "tr_TR",
            "properties": {"plan": "pro" if i % 3 == 0 else "free", "n": i},
        }
        for i in range(25)
    ]
    r = await c.post("/v1/subscribers/bulk", json={"subscribers": rows})
    assert r.status_code == 200 and r.json() == {"created": 25, "updated": 0}
    r = await c.post("/v1/subscribers/bulk", json={"subscribers": rows[:5]})
    assert r.json() == {"created": 0, "updated": 5}
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 4, "filter": 'plan = "pro"', "order_by": "created_at"}
        if cursor:
            params["cursor"] = cursor
        page = (await c.get("/v1/subscribers", params=params)).json()
        seen += [item["properties"]["n"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [i for i in range(25) if i % 3 == 0]
    page = (await c.get("/v1/subscribers", params={"locale": "en_US", "limit": 100})).json()
    assert len(page["items"]) == 12
    assert (await c.get("/v1/subscribers", params={"filter": "plan = = "})).status_code == 422
    assert (await c.get("/v1/subscribers", params={"cursor": "garbage!"})).status_code == 400
    assert (await c.get("/v1/subscribers", params={"locale": "xx"})).status_code == 422


async def test_csv_import_with_bad_lines(tenant: Tenant) -> None:
    lines = ["address,locale,plan"]
    for i in range(50):
        lines.append(f"csv{i}-{tenant.sender_id}@example.com,en_US,pro")
    lines.insert(10, "not-an-address,en_US,pro")
    lines.insert(20, "x@example.com,english,pro")
    lines.insert(30, "too,many,fields,here")
    lines.append('"quoted\nname@example.com",C,free')  # embedded newline: invalid address
    body = ("\n".join(lines) + "\n").encode()
    r = await tenant.client.post(
        "/v1/subscribers/imports", content=body, headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["state"] == "finished"
    assert job["imported_rows"] == 50 and job["error_rows"] == 4
    assert [e["line"] for e in job["errors"]] == [11, 21, 31, 55]
    r = await tenant.client.get(f"/v1/subscribers/imports/{job['id']}")
    assert r.json()["imported_rows"] == 50
    assert len((await tenant.client.get("/v1/subscribers/imports")).json()["items"]) == 1
    r = await tenant.client.post(
        "/v1/subscribers/imports",
        content=b"email\nx@example.com\n",
        headers={"Content-Type": "text/csv"},
    )
    assert r.json()["state"] == "failed"


async def test_emails_and_variations(tenant: Tenant) -> None:
    c = tenant.client
    r = await c.post("/v1/emails", json=email_body())
    assert r.status_code == 201, r.text
    email = r.json()
    eid = email["id"]
    assert email["state"] == "draft" and len(email["variations"]) == 1
    r = await c.post(
        f"/v1/emails/{eid}/variations",
        json={
            "subject": "B",
            "html_body": '<p>Hi {{ address }} <a href="https://x.example.com">x</a></p>',
        },
    )
    assert r.status_code == 201
    vid = r.json()["id"]
    r = await c.post(f"/v1/emails/{eid}/variations", json={"subject": "C"})
    assert r.status_code == 422
    r = await c.post(
        f"/v1/emails/{eid}/variations", json={"subject": "C", "plain_body": "{% for %}"}
    )
    assert r.status_code == 422
    r = await c.patch(f"/v1/emails/{eid}/variations/{vid}", json={"weight": 3, "subject": "B2"})
    assert r.status_code == 200 and r.json()["weight"] == 3
    r = await c.patch(f"/v1/emails/{eid}/variations/{vid}", json={"html_body": None})
    assert r.status_code == 422
    sub = (await c.put("/v1/subscribers", json={"address": unique_address("prev")})).json()
    r = await c.get(
        f"/v1/emails/{eid}/variations/{vid}/preview", params={"subscriber_id": sub["id"]}
    )
    assert r.status_code == 200, r.text
    assert sub["address"] in r.json()["html"] and r.json()["links"] == ["https://x.example.com"]
    assert (await c.get(f"/v1/emails/{eid}/variations/{vid}")).json()["subject"] == "B2"
    r = await c.patch(f"/v1/emails/{eid}", json={"name": "Renamed", "locales": ["en_US"]})
    assert r.status_code == 200 and r.json()["locales"] == ["en_US"]
    assert (await c.get("/v1/emails")).json()["items"][0]["name"] == "Renamed"
    assert (await c.delete(f"/v1/emails/{eid}/variations/{vid}")).status_code == 204
    first = email["variations"][0]["id"]
    assert (await c.delete(f"/v1/emails/{eid}/variations/{first}")).status_code == 409
    r = await c.get(f"/v1/emails/{eid}/statistics")
    assert r.status_code == 200 and r.json()["total"]["total"] == 0
    assert (await c.get(f"/v1/emails/{eid}/sends")).json()["items"] == []
    assert (await c.delete(f"/v1/emails/{eid}")).status_code == 204
    assert (await c.get(f"/v1/emails/{eid}")).status_code == 404


async def test_sender_and_reports(tenant: Tenant) -> None:
    c = tenant.client
    r = await c.patch(
        "/v1/sender",
        json={
            "name": "Renamed",
            "webhook_url": "https://hooks.example.com/x",
            "webhook_events": ["bounce"],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["webhook_secret_set"] is True and r.json()["webhook_events"] == ["bounce"]
    assert "dkim_private_key" not in r.json()
    assert (await c.patch("/v1/sender", json={"webhook_url": "ftp://x"})).status_code == 422
    assert len((await c.post("/v1/sender/webhook-secret")).json()["secret"]) > 20
    for path in ("/v1/bounces", "/v1/complaints", "/v1/dmarc/reports", "/v1/webhooks/deliveries"):
        r = await c.get(path)
        assert r.status_code == 200 and r.json()["items"] == [], path
