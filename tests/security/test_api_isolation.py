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
from typing import Any

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from tests.api.conftest import email_body
from tests.conftest import unique_address
from tests.security.conftest import Tenant
from tests.security.objects import NAME, SUBJECT, newer_api_objects, newer_objects_untouched

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
    "form_id": "form",
    "segment_id": "segment",
    "automation_id": "automation",
    "key": "topic",
}
# Path parameters that name no object but a setting of the caller's own sender (an ESP provider,
# a confirmation mail's language), and routes that declare the caller's own object under a name
# (a topic): another key reaches its own sender's there, so these are not in the 404 matrix;
# test_own_scope_routes_reach_only_the_callers_sender checks them with Alice's values.
OWN_SCOPE = {"provider": "mailgun", "language": "tr"}
OWN_SCOPE_ROUTES = {("PUT", "/v1/topics/{key}")}
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
    ("POST", "/v1/emails/{email_id}/resend-to-non-openers"): {
        "followup_email_id": "followup",
        "delay_hours": 0,
    },
    ("PUT", "/v1/forms/{form_id}"): {"name": "x"},
    ("PATCH", "/v1/segments/{segment_id}"): {"name": "x"},
    ("PATCH", "/v1/automations/{automation_id}"): {"state": "paused"},
    ("PUT", "/v1/topics/{key}"): {"label_en": "mallory's"},
    ("PUT", "/v1/optin/templates/{language}"): {"subject": "M", "plain_body": "{{ confirm_url }}"},
    ("PUT", "/v1/sender/esp/{provider}"): {"signing_key": "key-mallory"},
}


async def objects_of(t: Tenant, pool: AsyncConnectionPool) -> dict[str, Any]:
    c = t.client
    sub = (await c.post("/v1/subscribers", json={"address": unique_address()})).json()
    email = (await c.post("/v1/emails", json=email_body())).json()
    followup = (await c.post("/v1/emails", json=email_body())).json()
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
        "dmarc": dmarc["id"], "dkim": dkim["id"], "followup": followup["id"],
        "layout": layout["id"], **await newer_api_objects(t),
    }  # fmt: skip


def all_parameterised(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        if "{" in path
        for method in ops
    ]


def own_scope(method: str, path: str) -> bool:
    return (method, path) in OWN_SCOPE_ROUTES or bool(
        set(re.findall(r"{(\w+)}", path)) & set(OWN_SCOPE)
    )


def parameterised_routes(app: FastAPI) -> list[tuple[str, str]]:
    """The routes of the 404 matrix: every parameter names an object of the caller's sender."""
    return [(m, p) for m, p in all_parameterised(app) if not own_scope(m, p)]


def fill(template: str, objs: dict[str, Any]) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        return OWN_SCOPE[name] if name in OWN_SCOPE else str(objs[PARAMS[name]])

    return re.sub(r"{(\w+)}", value, template)


def body_of(method: str, template: str, objs: dict[str, Any]) -> Any:
    body = BODIES.get((method, template))
    if body is not None:
        body = {k: (objs[v] if isinstance(v, str) and v in objs else v) for k, v in body.items()}
    return body


def test_every_path_parameter_is_in_the_matrix(api_app: FastAPI) -> None:
    routes = all_parameterised(api_app)
    assert len(parameterised_routes(api_app)) >= 40
    unknown = {
        (m, p, name)
        for m, p in routes
        for name in re.findall(r"{(\w+)}", p)
        if name not in PARAMS and name not in OWN_SCOPE
    }
    assert not unknown, f"add these path parameters to the isolation matrix: {unknown}"


async def test_generated_isolation_matrix(
    api_app: FastAPI, alice: Tenant, mallory: Tenant, pool: AsyncConnectionPool
) -> None:
    a = await objects_of(alice, pool)
    failures = []
    for method, template in parameterised_routes(api_app):
        path = fill(template, a)
        r = await mallory.client.request(method, path, json=body_of(method, template, a))
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
    async with pool.connection() as conn:
        assert await newer_objects_untouched(conn, alice.sender_id, a) == []
    # ... and finds every object the matrix named, so Mallory's 404s mean refusal.
    for method, template in parameterised_routes(api_app):
        if method == "GET":
            r = await alice.client.get(fill(template, a))
            assert r.status_code == 200, (template, r.status_code, r.text[:200])


async def test_own_scope_routes_reach_only_the_callers_sender(
    api_app: FastAPI, alice: Tenant, mallory: Tenant, pool: AsyncConnectionPool
) -> None:
    """Mallory's key on the own-scope routes, with Alice's topic key, language and provider:
    each works on Mallory's own sender, never shows Alice's settings, and leaves them alone."""
    a = await objects_of(alice, pool)
    order = {"GET": 0, "PUT": 1, "DELETE": 2}  # Mallory's own setting exists before she drops it
    routes = sorted(
        ((m, p) for m, p in all_parameterised(api_app) if own_scope(m, p)),
        key=lambda route: order[route[0]],
    )
    assert len(routes) >= 6, routes
    for method, template in routes:
        r = await mallory.client.request(
            method, fill(template, a), json=body_of(method, template, a)
        )
        assert r.status_code in (200, 201, 204), (method, template, r.status_code, r.text[:200])
        assert NAME not in r.text and SUBJECT not in r.text, (method, template, r.text[:200])
    async with pool.connection() as conn:
        assert await newer_objects_untouched(conn, alice.sender_id, a) == []
    endpoints = (await alice.client.get("/v1/sender/esp")).json()["items"]
    assert [e["provider"] for e in endpoints] == ["mailgun"]
    # Mallory declared a topic of her own under Alice's key.
    mine = (await mallory.client.get("/v1/topics")).json()["items"]
    assert [(t["key"], t["label_en"]) for t in mine] == [(a["topic"], "mallory's")]


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
