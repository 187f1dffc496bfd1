"""Consent records from every API path (create, PUT, bulk, CSV import, PATCH state, erase), and
GET /v1/subscribers/{id}/consent, which another sender cannot read."""

from __future__ import annotations

import psycopg

from tests.api.conftest import Tenant
from tests.conftest import unique_address


def key_id(conn: psycopg.Connection[dict], sender_id: int) -> str:
    row = conn.execute("SELECT id FROM api_keys WHERE sender_id = %s", (sender_id,)).fetchone()
    return str(row["id"])


def records(conn: psycopg.Connection[dict], sender_id: int) -> list[tuple[str, str, str | None]]:
    rows = conn.execute(
        "SELECT action, source, source_ref FROM consent_records WHERE sender_id = %s ORDER BY id",
        (sender_id,),
    ).fetchall()
    return [(r["action"], r["source"], r["source_ref"]) for r in rows]


async def test_each_api_path_records_consent_once(
    tenant: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    key = key_id(sync_conn, tenant.sender_id)
    created = await tenant.client.post("/v1/subscribers", json={"address": unique_address()})
    assert created.status_code == 201, created.text
    address = unique_address()
    for expected in (201, 200):  # the second PUT replaces: no new consent
        put = await tenant.client.put("/v1/subscribers", json={"address": address})
        assert put.status_code == expected, put.text
    bulk = await tenant.client.post(
        "/v1/subscribers/bulk",
        json={"subscribers": [{"address": unique_address()}, {"address": address}]},
    )
    assert bulk.json() == {"created": 1, "updated": 1}
    sub = created.json()["id"]
    for state in ("unsubscribed", "unsubscribed", "active", "active"):
        r = await tenant.client.patch(f"/v1/subscribers/{sub}", json={"state": state})
        assert r.status_code == 200 and r.json()["state"] == state
    csv = f"address\n{unique_address()}\n{address}\n".encode()
    imported = await tenant.client.post(
        "/v1/subscribers/imports", content=csv, headers={"Content-Type": "text/csv"}
    )
    assert imported.status_code == 201, imported.text
    job = str(imported.json()["id"])
    assert records(sync_conn, tenant.sender_id) == [
        ("subscribe", "api", key),
        ("subscribe", "api", key),
        ("subscribe", "api", key),
        ("unsubscribe", "api", key),
        ("resubscribe", "api", key),
        ("subscribe", "import", job),
    ]
    history = await tenant.client.get(f"/v1/subscribers/{sub}/consent")
    assert history.status_code == 200
    assert [i["action"] for i in history.json()["items"]] == [
        "subscribe", "unsubscribe", "resubscribe"
    ]  # fmt: skip
    first = history.json()["items"][0]
    assert first["source"] == "api" and first["source_ref"] == key and first["at"]


async def test_consent_history_is_the_senders_own(tenant: Tenant, other: Tenant) -> None:
    created = await tenant.client.post("/v1/subscribers", json={"address": unique_address()})
    sub = created.json()["id"]
    assert (await other.client.get(f"/v1/subscribers/{sub}/consent")).status_code == 404
    assert (await other.client.get(f"/v1/subscribers/{sub}/export")).status_code == 404
    assert (await tenant.client.get("/v1/subscribers/999999999/consent")).status_code == 404


async def test_erase_keeps_detached_proof(
    tenant: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    key = key_id(sync_conn, tenant.sender_id)
    created = await tenant.client.post("/v1/subscribers", json={"address": unique_address()})
    sub = created.json()["id"]
    assert (await tenant.client.delete(f"/v1/subscribers/{sub}")).status_code == 204
    assert (await tenant.client.get(f"/v1/subscribers/{sub}/consent")).status_code == 404
    rows = sync_conn.execute(
        "SELECT action, source, source_ref, subscriber_id, ip, address_hash, erased_at"
        " FROM consent_records WHERE sender_id = %s ORDER BY id",
        (tenant.sender_id,),
    ).fetchall()
    assert [(r["action"], r["source"], r["source_ref"]) for r in rows] == [
        ("subscribe", "api", key), ("erase_request", "api", key)
    ]  # fmt: skip
    assert all(r["subscriber_id"] is None and r["erased_at"] for r in rows)
    assert len({bytes(r["address_hash"]) for r in rows}) == 1
    erased = sync_conn.execute(
        "SELECT address_hash FROM erased_addresses WHERE sender_id = %s", (tenant.sender_id,)
    ).fetchall()
    assert [bytes(r["address_hash"]) for r in erased] == [bytes(rows[0]["address_hash"])]


async def test_erase_finds_the_address_in_raw_mail_holding_a_nul_byte(
    tenant: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    """A malformed inbound message with a NUL byte once made every erase fail (PostgreSQL text
    cannot hold NUL): it is searched too, and other messages still are."""
    address = unique_address()
    created = await tenant.client.post("/v1/subscribers", json={"address": address})
    ids = []
    for raw in (b"To: " + address.upper().encode() + b"\r\n\r\nbody\x00tail", b"To: x\x00y"):
        row = sync_conn.execute(
            "INSERT INTO inbound_messages (sha256, raw, size, source)"
            " VALUES (sha256(%s), %s, %s, 'pipe') RETURNING id",
            (raw, raw, len(raw)),
        ).fetchone()
        ids.append(row["id"])
    r = await tenant.client.delete(f"/v1/subscribers/{created.json()['id']}")
    assert r.status_code == 204, r.text
    rows = sync_conn.execute(
        "SELECT id, raw FROM inbound_messages WHERE id = ANY(%s) ORDER BY id", (ids,)
    ).fetchall()
    assert [bytes(r["raw"]) for r in rows] == [b"", b"To: x\x00y"]
