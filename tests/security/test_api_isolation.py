"""The isolation matrix, generated from the OpenAPI document: every route with a path
parameter is called with Mallory's key and Alice's object ids, and must answer 404 (never 200,
never 403, which would confirm the id exists). A new route whose parameter this file does not
know fails the test, so the matrix cannot silently fall behind the API.

tests/api/test_isolation.py has a hand-written matrix with richer bodies; this one guarantees
coverage. List endpoints are checked for Alice's rows too.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from tests.api.conftest import email_body
from tests.conftest import unique_address
from tests.security.conftest import Tenant

# path parameter -> key in the objects dict
PARAMS = {
    "subscriber_id": "sub",
    "email_id": "email",
    "variation_id": "var",
    "import_id": "job",
    "send_id": "send",
    "delivery_id": "delivery",
    "key_id": "key",
    "report_id": "dmarc",
    "dkim_key_id": "dkim",
    "layout_id": "layout",
}
# Path parameters that name no object but a setting of the caller's own sender (an ESP provider):
# another key reaches its own sender's setting there, so such routes are not in the matrix;
# tests/api/test_esp_endpoints.py checks that one sender never sees or deletes another's.
OWN_SCOPE = {"provider"}
# Bodies valid enough to get past validation, so the ownership check is what answers.
BODIES = {
    ("PATCH", "/v1/subscribers/{subscriber_id}"): {"locale": "en_US"},
    ("PATCH", "/v1/emails/{email_id}"): {"name": "x"},
    ("POST", "/v1/emails/{email_id}/variations"): {"subject": "x", "plain_body": "y"},
    ("PATCH", "/v1/emails/{email_id}/variations/{variation_id}"): {"weight": 2},
    ("POST", "/v1/emails/{email_id}/send"): {},
    ("POST", "/v1/emails/{email_id}/send-to-subscriber"): {"subscriber_id": "sub"},
    ("POST", "/v1/emails/{email_id}/test-send"): {"variation_id": "var", "address": "a@x.example"},
    ("PATCH", "/v1/layouts/{layout_id}"): {"name": "x"},
}


async def objects_of(t: Tenant, pool: AsyncConnectionPool) -> dict[str, int]:
    c = t.client
    sub = (await c.post("/v1/subscribers", json={"address": unique_address()})).json()
    email = (await c.post("/v1/emails", json=email_body())).json()
    job = (
        await c.post("/v1/subscribers/imports", content=f"address\n{unique_address()}\n".encode(),
                     headers={"Content-Type": "text/csv"})
    ).json()  # fmt: skip
    dkim = (await c.post("/v1/sender/dkim-keys", json={"selector": "iso1"})).json()
    layout = (await c.post("/v1/layouts", json={"name": "iso"})).json()
    keys = (await c.get("/v1/sender/keys")).json()
    key_id = (keys["items"] if isinstance(keys, dict) else keys)[0]["id"]
    domain = t.address.split("@")[1]
    async with pool.connection() as conn:
        send = await (await conn.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id) VALUES (%s, %s, %s)"
            " RETURNING id", [email["id"], t.sender_id, sub["id"]],
        )).fetchone()  # fmt: skip
        delivery = await (await conn.execute(
            "INSERT INTO webhook_deliveries (sender_id, event, payload)"
            " VALUES (%s, 'bounce', '{}') RETURNING id", [t.sender_id],
        )).fetchone()  # fmt: skip
        now = datetime.now(UTC)
        dmarc = await (await conn.execute(
            "INSERT INTO dmarc_aggregate_reports (org_name, report_id, domain, begin_at, end_at)"
            " VALUES ('isp.example', %s, %s, %s, %s) RETURNING id",
            [uuid.uuid4().hex, domain, now, now],
        )).fetchone()  # fmt: skip
    return {
        "sub": sub["id"], "email": email["id"], "var": email["variations"][0]["id"],
        "job": job["id"], "send": send["id"], "delivery": delivery["id"], "key": key_id,
        "dmarc": dmarc["id"], "dkim": dkim["id"], "layout": layout["id"],
    }  # fmt: skip


def parameterised_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        if set(re.findall(r"{(\w+)}", path)) - OWN_SCOPE
        for method in ops
    ]


def test_every_path_parameter_is_in_the_matrix(api_app: FastAPI) -> None:
    routes = parameterised_routes(api_app)
    assert len(routes) >= 25
    unknown = {
        (m, p, name) for m, p in routes for name in re.findall(r"{(\w+)}", p) if name not in PARAMS
    }
    assert not unknown, f"add these path parameters to the isolation matrix: {unknown}"


async def test_generated_isolation_matrix(
    api_app: FastAPI, alice: Tenant, mallory: Tenant, pool: AsyncConnectionPool
) -> None:
    a = await objects_of(alice, pool)
    failures = []
    for method, template in parameterised_routes(api_app):
        path = re.sub(r"{(\w+)}", lambda m: str(a[PARAMS[m.group(1)]]), template)
        body = BODIES.get((method, template))
        if body is not None:
            body = {k: (a[v] if isinstance(v, str) and v in a else v) for k, v in body.items()}
        r = await mallory.client.request(method, path, json=body)
        if r.status_code != 404:
            failures.append((method, template, r.status_code, r.text[:200]))
    assert not failures, failures
    # Alice still has everything (Mallory's DELETEs did nothing).
    assert (await alice.client.get(f"/v1/subscribers/{a['sub']}")).status_code == 200
    assert (await alice.client.get(f"/v1/emails/{a['email']}")).status_code == 200
    assert (await alice.client.get(f"/v1/dmarc/reports/{a['dmarc']}")).status_code == 200
    assert (await alice.client.get(f"/v1/sender/keys/{a['key']}")).status_code == 200
    assert (await alice.client.get(f"/v1/sender/dkim-keys/{a['dkim']}")).json()["state"] == "next"
    assert (await alice.client.get(f"/v1/layouts/{a['layout']}")).json()["name"] == "iso"


async def test_list_routes_never_show_another_senders_rows(
    api_app: FastAPI, alice: Tenant, mallory: Tenant, pool: AsyncConnectionPool
) -> None:
    await objects_of(alice, pool)
    await objects_of(mallory, pool)
    lists = [
        path for path, ops in api_app.openapi()["paths"].items() if "{" not in path and "get" in ops
    ]
    assert "/v1/subscribers" in lists and "/v1/dmarc/reports" in lists
    for path in lists:
        r = await mallory.client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        text = json.dumps(r.json())
        assert alice.address.split("@")[1] not in text, path
