"""/v1/segments: saved segments with a live count, as a list filter and a bulk send audience,
isolated per sender."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from tests.api.conftest import Tenant, email_body
from tests.conftest import unique_address


async def _people(tenant: Tenant, plans: list[str]) -> list[dict[str, Any]]:
    rows = [{"address": unique_address(), "properties": {"plan": p, "n": i}} for i, p in
            enumerate(plans)]  # fmt: skip
    r = await tenant.client.post("/v1/subscribers/bulk", json={"subscribers": rows})
    assert r.status_code == 200, r.text
    r = await tenant.client.get("/v1/subscribers", params={"limit": 100})
    return list(r.json()["items"])


async def test_a_segment_counts_lists_and_sends(tenant: Tenant, pool: AsyncConnectionPool) -> None:
    c = tenant.client
    people = await _people(tenant, ["pro", "pro", "pro", "free", "free"])
    r = await c.post("/v1/segments", json={"name": "pros", "filter": 'plan = "pro" and n >= 1'})
    assert r.status_code == 201, r.text
    seg = r.json()
    assert seg["count"] == 2 and seg["filter"] == {
        "and": [{"eq": ["plan", "pro"]}, {"ge": ["n", 1]}]
    }
    assert (await c.get(f"/v1/segments/{seg['id']}/count")).json() == {"count": 2}
    # the count is live: a third member appears as soon as a subscriber changes
    await c.patch(
        f"/v1/subscribers/{people[0]['id']}", json={"properties": {"plan": "pro", "n": 7}}
    )
    assert (await c.get(f"/v1/segments/{seg['id']}")).json()["count"] == 3

    listed = await c.get("/v1/subscribers", params={"segment_id": seg["id"]})
    assert listed.status_code == 200
    assert {s["properties"]["n"] for s in listed.json()["items"]} == {7, 1, 2}
    both = await c.get("/v1/subscribers", params={"segment_id": seg["id"], "filter": "n < 5"})
    assert {s["properties"]["n"] for s in both.json()["items"]} == {1, 2}

    email = (await c.post("/v1/emails", json=email_body())).json()
    body = {"segment_id": seg["id"], "filter": "n > 1", "scheduled_at": "2099-01-01T00:00:00Z"}
    r = await c.post(f"/v1/emails/{email['id']}/send", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["recipient_count"] == 2  # members with n > 1: 7 and 2
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT filter FROM campaigns WHERE id = %s", [r.json()["job_id"]])
        stored = (await cur.fetchone())["filter"]
    # the campaign keeps the expanded filter it started with
    assert stored == {
        "and": [{"gt": ["n", 1]}, {"and": [{"eq": ["plan", "pro"]}, {"ge": ["n", 1]}]}]
    }


async def test_segments_name_segments_without_loops(tenant: Tenant) -> None:
    c = tenant.client
    await _people(tenant, ["pro", "free"])
    a = (await c.post("/v1/segments", json={"name": "a", "filter": 'plan = "pro"'})).json()
    b = await c.post("/v1/segments", json={"name": "b", "filter": f"segment {a['id']} or n = 1"})
    assert b.status_code == 201 and b.json()["count"] == 2
    loop = await c.patch(f"/v1/segments/{a['id']}", json={"filter": f"segment {b.json()['id']}"})
    assert loop.status_code == 422 and "includes itself" in loop.json()["detail"]
    r = await c.delete(f"/v1/segments/{a['id']}")
    assert r.status_code == 409 and "used by segment" in r.json()["detail"]
    assert (await c.delete(f"/v1/segments/{b.json()['id']}")).status_code == 204
    assert (await c.delete(f"/v1/segments/{a['id']}")).status_code == 204
    dup = await c.post("/v1/segments", json={"name": "x", "filter": "n = 1"})
    assert (await c.post("/v1/segments", json={"name": "x", "filter": "n = 2"})).status_code == 409
    assert dup.status_code == 201


async def test_bad_filters_are_422_with_the_position(tenant: Tenant) -> None:
    c = tenant.client
    r = await c.post("/v1/segments", json={"name": "bad", "filter": "n between 1"})
    assert r.status_code == 422 and "position 12" in r.json()["detail"]
    r = await c.get("/v1/subscribers", params={"filter": "opened email"})
    assert r.status_code == 422 and "an email id at position 13" in r.json()["detail"]
    r = await c.post("/v1/segments", json={"name": "empty", "filter": "  "})
    assert r.status_code == 422


async def test_another_senders_segment_is_not_found(tenant: Tenant, other: Tenant) -> None:
    await _people(tenant, ["pro"])
    seg = (await tenant.client.post("/v1/segments", json={"name": "p", "filter": "n = 0"})).json()
    o = other.client
    assert (await o.get(f"/v1/segments/{seg['id']}")).status_code == 404
    assert (await o.get("/v1/subscribers", params={"segment_id": seg["id"]})).status_code == 404
    r = await o.post("/v1/segments", json={"name": "mine", "filter": f"segment {seg['id']}"})
    assert r.status_code == 404
    assert (await o.patch(f"/v1/segments/{seg['id']}", json={"name": "z"})).status_code == 404
    assert (await o.delete(f"/v1/segments/{seg['id']}")).status_code == 404
    assert (await o.get("/v1/segments")).json()["items"] == []
    email = (await o.post("/v1/emails", json=email_body())).json()
    r = await o.post(f"/v1/emails/{email['id']}/send", json={"segment_id": seg["id"]})
    assert r.status_code == 404


async def test_an_anonymous_sender_cannot_select_by_engagement(
    tenant: Tenant, pool: AsyncConnectionPool
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE senders SET anonymous_events = true WHERE id = %s", [tenant.sender_id]
        )
    r = await tenant.client.post(
        "/v1/segments", json={"name": "openers", "filter": "opened within 30 days"}
    )
    assert r.status_code == 422 and "anonymously" in r.json()["detail"]
    r = await tenant.client.get("/v1/subscribers", params={"filter": "never opened"})
    assert r.status_code == 422
    r = await tenant.client.post("/v1/segments", json={"name": "ok", "filter": "n >= 0"})
    assert r.status_code == 201


async def test_resend_to_non_openers_through_the_api(tenant: Tenant) -> None:
    c = tenant.client
    first = (await c.post("/v1/emails", json=email_body())).json()["id"]
    second = (await c.post("/v1/emails", json=email_body())).json()["id"]
    path = f"/v1/emails/{first}/resend-to-non-openers"
    r = await c.post(path, json={"followup_email_id": second, "delay_hours": 24})
    assert r.status_code == 409 and "has not been sent" in r.json()["detail"]
    r = await c.post(path, json={"followup_email_id": first, "delay_hours": 24})
    assert r.status_code == 422
    r = await c.post(path, json={"followup_email_id": second, "delay_hours": -1})
    assert r.status_code == 422
    r = await c.post(f"/v1/emails/{first}/resend-to-non-openers",
                     json={"followup_email_id": 999_999_999, "delay_hours": 1})  # fmt: skip
    assert r.status_code == 422 and "followup_email_id" in r.json()["detail"]


async def test_resend_a_copy_with_another_subject_or_variation(
    tenant: Tenant, other: Tenant, pool: AsyncConnectionPool
) -> None:
    c = tenant.client
    two = {"name": "News", "variations": [
        {"name": "A", "subject": "Hi", "plain_body": "Body A {{ address }}"},
        {"name": "B", "subject": "Hey", "plain_body": "Body B {{ address }}"},
    ]}  # fmt: skip
    first = (await c.post("/v1/emails", json=two)).json()
    second = (await c.post("/v1/emails", json=email_body())).json()
    theirs = (await other.client.post("/v1/emails", json=email_body())).json()
    b = first["variations"][1]["id"]
    r = await c.post("/v1/subscribers/bulk", json={"subscribers": [
        {"address": unique_address()} for _ in range(3)]})  # fmt: skip
    assert r.status_code == 200, r.text
    people = (await c.get("/v1/subscribers", params={"limit": 10})).json()["items"]
    human, machine, nobody = sorted(p["id"] for p in people)
    async with pool.connection() as conn:
        await conn.execute("UPDATE emails SET state = 'sending' WHERE id = %s", [first["id"]])
        for sub, opens, machine_opens in ((human, 1, 0), (machine, 0, 3), (nobody, 0, 0)):
            await conn.execute(
                "INSERT INTO sends (email_id, sender_id, subscriber_id, state, sent_at,"
                " open_count, machine_open_count) VALUES (%s, %s, %s, 'sent', now(), %s, %s)",
                [first["id"], tenant.sender_id, sub, opens, machine_opens],
            )
    path = f"/v1/emails/{first['id']}/resend-to-non-openers"
    refused = [
        ({"delay_hours": 1}, "followup_email_id"),  # neither
        ({"followup_email_id": second["id"], "subject": "x", "delay_hours": 1}, "followup"),
        ({"subject": "Two\r\nlines", "delay_hours": 1}, "subject"),
        ({"subject": "x" * 999, "delay_hours": 1}, "subject"),
        ({"subject": "{{ x", "delay_hours": 1}, "subject"),
        ({"variation_id": second["variations"][0]["id"], "delay_hours": 1}, "variation_id"),
        ({"followup_email_id": theirs["id"], "delay_hours": 1}, "followup_email_id"),
    ]
    for body, field in refused:
        r = await c.post(path, json=body)
        assert r.status_code == 422 and field in r.text, (body, r.status_code, r.text)
    listed = (await c.get("/v1/emails")).json()["items"]
    assert {e["id"] for e in listed} == {first["id"], second["id"]}  # no copy left behind

    r = await c.post(path, json={"subject": "Did you see it?", "variation_id": b,
                                 "delay_hours": 0})  # fmt: skip
    assert r.status_code == 202, r.text
    out = r.json()
    # the machine-only opener and the one who never opened; not the human opener
    assert out["recipient_count"] == 2 and out["email_id"] not in (first["id"], second["id"])
    copy = (await c.get(f"/v1/emails/{out['email_id']}")).json()
    assert copy["followup_of"] == first["id"]
    assert [(v["subject"], v["plain_body"]) for v in copy["variations"]] == [
        ("Did you see it?", "Body B {{ address }}")
    ]
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT filter FROM campaigns WHERE id = %s", [out["job_id"]])
        assert (await cur.fetchone())["filter"] == {
            "and": [{"received": first["id"]}, {"not": {"opened": first["id"]}}]
        }
    # the other sender cannot follow this email up, nor see the copy
    r = await other.client.post(path, json={"subject": "x", "delay_hours": 0})
    assert r.status_code == 404
    assert (await other.client.get(f"/v1/emails/{out['email_id']}")).status_code == 404


async def test_segments_that_multiply_when_expanded_are_refused(tenant: Tenant) -> None:
    c = tenant.client
    r = await c.post("/v1/segments", json={"name": "s0", "filter": {"in": ["n", list(range(900))]}})
    assert r.status_code == 201
    previous = r.json()["id"]
    for level in range(1, 4):
        body = {"or": [{"segment": previous}] * 4}
        r = await c.post("/v1/segments", json={"name": f"s{level}", "filter": body})
        if r.status_code != 201:
            break
        previous = r.json()["id"]
    assert r.status_code == 422 and "once segments expand" in r.json()["detail"]
