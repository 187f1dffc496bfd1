"""What the OpenAPI document promises about methods, nulls and bodies, and the answers that keep
to it: each case here was found by an independent `schemathesis run --checks all`."""

from __future__ import annotations

from typing import Any

import dramatiq.errors
import pytest
from psycopg_pool import AsyncConnectionPool

from shared.broker import get_broker
from tests.api.conftest import Tenant, email_body
from tests.conftest import unique_address


async def test_405_names_every_method_of_the_resource(tenant: Tenant) -> None:
    c = tenant.client
    for method, path, allowed in (
        ("PUT", "/v1/emails/1", "DELETE, GET, PATCH"),
        ("DELETE", "/v1/sender", "GET, PATCH"),
        # "imports" is not a subscriber id: the collection's methods answer, not a 422 on the id
        ("PATCH", "/v1/subscribers/imports", "GET, POST"),
    ):
        r = await c.request(method, path)
        assert r.status_code == 405, (method, path, r.text)
        assert r.headers["allow"] == allowed and r.json()["error"] == "MethodNotAllowed"
    r = await c.get("/v1/subscribers/not-a-number")
    assert r.status_code == 404 and r.json()["error"] == "NotFound"


async def test_a_field_without_an_empty_state_refuses_null_and_says_so(tenant: Tenant) -> None:
    c = tenant.client
    schemas = (await c.get("/openapi.json")).json()["components"]["schemas"]
    sender_patch = schemas["SenderPatch"]["properties"]
    assert sender_patch["name"]["type"] == "string" and "default" not in sender_patch["name"]
    assert {"type": "null"} in sender_patch["reply_to"]["anyOf"]
    for body in ({"name": None}, {"anonymous_events": None}, {"soft_bounce_limit": None}):
        r = await c.patch("/v1/sender", json=body)
        assert r.status_code == 422 and next(iter(body)) in r.json()["detail"], r.text
    r = await c.patch("/v1/sender", json={"reply_to": "replies@example.com"})
    assert r.status_code == 200 and r.json()["reply_to"] == "replies@example.com"
    r = await c.patch("/v1/sender", json={"reply_to": None})
    assert r.status_code == 200 and r.json()["reply_to"] is None
    eid = (await c.post("/v1/emails", json=email_body())).json()["id"]
    r = await c.patch(f"/v1/emails/{eid}", json={"track_clicks": None})
    assert r.status_code == 422 and "track_clicks" in r.json()["detail"]


async def test_send_to_subscriber_takes_exactly_one_of_id_and_address(tenant: Tenant) -> None:
    c = tenant.client
    schema = (await c.get("/openapi.json")).json()["components"]["schemas"]["SendToSubscriberIn"]
    assert schema["oneOf"] == [{"required": ["subscriber_id"]}, {"required": ["address"]}]
    eid = (await c.post("/v1/emails", json=email_body())).json()["id"]
    subscriber = (await c.put("/v1/subscribers", json={"address": unique_address()})).json()
    both = {"subscriber_id": subscriber["id"], "address": subscriber["address"]}
    for body in (both, {}):
        r = await c.post(f"/v1/emails/{eid}/send-to-subscriber", json=body)
        assert r.status_code == 422 and "exactly one" in r.json()["detail"], r.text
    r = await c.post(f"/v1/emails/{eid}/send-to-subscriber", json={"address": both["address"]})
    assert r.status_code == 202, r.text


async def test_an_empty_csv_body_is_refused_before_a_job_is_recorded(tenant: Tenant) -> None:
    c = tenant.client
    before = (await c.get("/v1/subscribers/imports")).json()["items"]
    r = await c.post("/v1/subscribers/imports", content=b"", headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and "empty" in r.json()["detail"], r.text
    assert (await c.get("/v1/subscribers/imports")).json()["items"] == before


async def test_an_ab_send_with_one_variation_conflicts_with_the_email(tenant: Tenant) -> None:
    c = tenant.client
    eid = (await c.post("/v1/emails", json=email_body())).json()["id"]
    body: dict[str, Any] = {"ab": {"share": 0.2, "wait_minutes": 60}}
    r = await c.post(f"/v1/emails/{eid}/send", json=body)
    assert r.status_code == 409 and "2 active variation" in r.json()["detail"], r.text
    assert (await c.get(f"/v1/emails/{eid}")).json()["state"] == "draft"


async def test_a_value_of_the_wrong_json_type_is_refused_not_coerced(tenant: Tenant) -> None:
    c = tenant.client
    for body in ({"anonymous_events": 0}, {"anonymous_events": "no"}, {"name": 7}):
        r = await c.patch("/v1/sender", json=body)
        assert r.status_code == 422 and next(iter(body)) in r.json()["detail"], r.text
    # JSON Schema counts 1.0 as an integer, so the API does too
    r = await c.patch("/v1/sender", json={"anonymous_events": True, "soft_bounce_limit": 5.0})
    assert r.status_code == 200 and r.json()["soft_bounce_limit"] == 5


async def test_a_broker_outage_is_a_503_and_what_was_recorded_stays(
    tenant: Tenant, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = tenant.client
    eid = (await c.post("/v1/emails", json=email_body())).json()["id"]
    subscriber = (await c.put("/v1/subscribers", json={"address": unique_address()})).json()

    def broker_down(message: Any, *, delay: int | None = None) -> None:
        raise dramatiq.errors.ConnectionClosed(Exception("connection refused"))

    monkeypatch.setattr(get_broker(), "enqueue", broker_down)
    r = await c.post(
        f"/v1/emails/{eid}/send-to-subscriber",
        json={"subscriber_id": subscriber["id"]},
        headers={"Idempotency-Key": "outage-1"},
    )
    assert r.status_code == 503 and r.json()["error"] == "ServiceUnavailable", r.text
    assert r.headers["retry-after"] == "5"
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT state::text AS state FROM sends WHERE email_id = %s AND subscriber_id = %s",
            [eid, subscriber["id"]],
        )
        assert [row["state"] for row in await cur.fetchall()] == ["queued"]  # the sweep sends it
    monkeypatch.undo()
    r = await c.post(
        f"/v1/emails/{eid}/send-to-subscriber",
        json={"subscriber_id": subscriber["id"]},
        headers={"Idempotency-Key": "outage-1"},
    )
    assert r.status_code == 202, r.text  # the stored answer: nothing is queued twice
