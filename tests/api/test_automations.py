"""/v1/automations: create, validate, pause/resume, edit, statistics and who-is-where, isolated
per sender."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from shared.automations import engine
from tests.api.conftest import Tenant, email_body
from tests.conftest import unique_address


async def _setup(tenant: Tenant) -> tuple[int, int]:
    c = tenant.client
    email = (await c.post("/v1/emails", json=email_body())).json()
    seg = (await c.post("/v1/segments", json={"name": "pros", "filter": 'plan = "pro"'})).json()
    return email["id"], seg["id"]


def _welcome(email_id: int, segment_id: int) -> dict[str, Any]:
    return {
        "name": "welcome",
        "trigger": "subscriber_active",
        "steps": [
            {"kind": "send", "email_id": email_id},
            {"kind": "wait", "days": 2, "hours": 1},
            {"kind": "condition", "segment_id": segment_id},
        ],
    }


async def test_create_run_and_inspect(tenant: Tenant, pool: AsyncConnectionPool) -> None:
    c = tenant.client
    email_id, segment_id = await _setup(tenant)
    r = await c.post("/v1/automations", json=_welcome(email_id, segment_id))
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["state"] == "active" and [s["kind"] for s in a["steps"]] == [
        "send",
        "wait",
        "condition",
    ]
    assert a["steps"][1]["wait_seconds"] == 2 * 86400 + 3600
    for plan in ("pro", "free"):
        body = {"address": unique_address(), "properties": {"plan": plan}}
        assert (await c.post("/v1/subscribers", json=body)).status_code == 201
    await engine.run_pass(pool, 50)
    who = (await c.get(f"/v1/automations/{a['id']}/subscribers")).json()["items"]
    assert [(p["position"], p["state"]) for p in who] == [(1, "waiting"), (1, "waiting")]
    stats = (await c.get(f"/v1/automations/{a['id']}/statistics")).json()
    assert stats["totals"] == {"waiting": 2}
    assert stats["steps"][0]["passed"] == 2 and stats["steps"][1]["waiting"] == 2

    r = await c.post(f"/v1/automations/{a['id']}/pause")
    assert r.status_code == 200 and r.json()["state"] == "paused"
    r = await c.patch(f"/v1/automations/{a['id']}", json={"steps": [{"kind": "wait", "hours": 1}],
                                                          "state": "active"})  # fmt: skip
    assert r.status_code == 200 and r.json()["state"] == "active"
    assert [s["kind"] for s in r.json()["steps"]] == ["wait"]
    listed = (await c.get("/v1/automations")).json()["items"]
    assert [x["id"] for x in listed] == [a["id"]]
    r = await c.delete(f"/v1/segments/{segment_id}")
    assert r.status_code == 204  # no longer used by the edited sequence
    assert (await c.delete(f"/v1/automations/{a['id']}")).status_code == 204
    assert (await c.get(f"/v1/automations/{a['id']}")).status_code == 404


async def test_bad_sequences_are_refused(tenant: Tenant, other: Tenant) -> None:
    c = tenant.client
    email_id, segment_id = await _setup(tenant)
    bad: list[dict[str, Any]] = [
        {**_welcome(email_id, segment_id), "trigger": "segment_entered"},  # no segment_id
        {**_welcome(email_id, segment_id), "date_property": "born"},  # not a date trigger
        {**_welcome(email_id, segment_id), "steps": [{"kind": "wait", "minutes": 0}]},
        {**_welcome(email_id, segment_id), "steps": [{"kind": "jump"}]},
    ]
    for body in bad:
        r = await c.post("/v1/automations", json=body)
        assert r.status_code == 422, (body, r.text)
    r = await c.post("/v1/automations", json=_welcome(email_id, segment_id))
    assert r.status_code == 201
    assert (await c.post("/v1/automations", json=_welcome(email_id, segment_id))).status_code == 409
    r = await c.delete(f"/v1/segments/{segment_id}")
    assert r.status_code == 409 and "automation" in r.json()["detail"]

    # another sender sees none of it and cannot name the first one's email or segment
    o = other.client
    mine = (await o.post("/v1/emails", json=email_body())).json()["id"]
    r = await o.post("/v1/automations", json=_welcome(email_id, segment_id))
    assert r.status_code == 404
    body = {"name": "x", "trigger": "subscriber_created", "steps": [{"kind": "send",
            "email_id": email_id}]}  # fmt: skip
    assert (await o.post("/v1/automations", json=body)).status_code == 404
    body["steps"] = [{"kind": "send", "email_id": mine}]
    assert (await o.post("/v1/automations", json=body)).status_code == 201
    theirs = (await c.get("/v1/automations")).json()["items"][0]["id"]
    for method, path in (("GET", ""), ("PATCH", ""), ("POST", "/pause"), ("DELETE", ""),
                         ("GET", "/statistics"), ("GET", "/subscribers")):  # fmt: skip
        kwargs: dict[str, Any] = {"json": {"name": "y"}} if method == "PATCH" else {}
        r = await o.request(method, f"/v1/automations/{theirs}{path}", **kwargs)
        assert r.status_code == 404, (method, path, r.text)


async def test_an_email_an_automation_sends_cannot_be_deleted(tenant: Tenant) -> None:
    c = tenant.client
    email_id, segment_id = await _setup(tenant)
    assert (await c.post("/v1/automations", json=_welcome(email_id, segment_id))).status_code == 201
    r = await c.delete(f"/v1/emails/{email_id}")
    assert r.status_code == 409 and "automation" in r.json()["detail"]
