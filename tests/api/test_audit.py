"""API changes land in the audit log, in the request's transaction: the key, the route, the
client and, for settings, the state before and after. Reads and refused requests do not."""

from __future__ import annotations

import psycopg

from tests.api.conftest import Tenant


def entries(conn: psycopg.Connection[dict], sender_id: int) -> list[dict]:
    return conn.execute(
        "SELECT * FROM audit_log WHERE sender_id = %s AND actor_kind = 'api_key' ORDER BY id",
        (sender_id,),
    ).fetchall()


async def test_api_changes_are_audited(tenant: Tenant, sync_conn: psycopg.Connection[dict]) -> None:
    await tenant.client.get("/v1/sender")
    assert entries(sync_conn, tenant.sender_id) == []

    response = await tenant.client.patch(
        "/v1/sender", json={"name": "Renamed", "guard_bounce_rate": 0.2},
        headers={"User-Agent": "ci-bot/1.0"},
    )  # fmt: skip
    assert response.status_code == 200
    (entry,) = entries(sync_conn, tenant.sender_id)
    key_id = sync_conn.execute(
        "SELECT id FROM api_keys WHERE sender_id = %s", (tenant.sender_id,)
    ).fetchone()["id"]
    assert (entry["actor_id"], entry["action"]) == (key_id, "PATCH /v1/sender")
    assert entry["user_agent"] == "ci-bot/1.0" and str(entry["ip"]) == "127.0.0.1"
    assert (entry["before"]["name"], entry["after"]["name"]) == ("News", "Renamed")
    assert (entry["before"]["guard_bounce_rate"], entry["after"]["guard_bounce_rate"]) == (
        0.05, 0.2,
    )  # fmt: skip

    # Refused (422): nothing changed, nothing recorded.
    assert (await tenant.client.patch("/v1/sender", json={"name": ""})).status_code == 422
    assert len(entries(sync_conn, tenant.sender_id)) == 1

    # A single-statement route (upsert) and a secret-bearing one (Postmark password).
    response = await tenant.client.put("/v1/subscribers", json={"address": "audited@example.org"})
    assert response.status_code in (200, 201), response.text
    response = await tenant.client.put("/v1/sender/esp/postmark", json={})
    password = response.json()["password"]
    actions = [e["action"] for e in entries(sync_conn, tenant.sender_id)]
    assert actions[1:] == ["PUT /v1/subscribers", "PUT /v1/sender/esp/{provider}"]
    last = entries(sync_conn, tenant.sender_id)[-1]
    assert last["target"] == {"provider": "postmark"} and last["after"]["password"] is None
    assert password not in str(last)


async def test_one_senders_key_never_writes_another_senders_entries(
    tenant: Tenant, other: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    await other.client.patch("/v1/sender", json={"name": "Theirs"})
    assert entries(sync_conn, tenant.sender_id) == []
    assert len(entries(sync_conn, other.sender_id)) == 1
