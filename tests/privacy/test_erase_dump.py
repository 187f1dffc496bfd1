"""After an erase, a pg_dump of the whole database holds the address nowhere, in any case or
as bytea hex; what is kept (counts, detached consent proof) is still there."""

from __future__ import annotations

import re
import subprocess

import psycopg

from shared.config import Settings
from tests.api.conftest import Tenant
from tests.privacy.world import spread


def dump(settings: Settings) -> str:
    result = subprocess.run(
        ["pg_dump", "--no-owner", "--dbname", settings.database_url],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


BYTEA = re.compile(r"\\{1,2}x((?:[0-9a-f]{2})+)")


def traces(text: str, address: str) -> list[str]:
    """Each place the address shows, in any letter case: in the dump's text, or inside a bytea
    value (pg_dump writes those as hex, which is decoded here)."""
    needle = address.lower()
    found = []
    at = text.lower().find(needle)
    if at >= 0:
        found.append(text[max(0, at - 200) : at + 100])
    for match in BYTEA.finditer(text):
        decoded = bytes.fromhex(match.group(1)).decode("latin-1").lower()
        if needle in decoded:
            found.append(decoded[:300])
    return found


async def test_erase_leaves_no_trace_in_a_full_dump(
    tenant: Tenant, sync_conn: psycopg.Connection[dict], settings: Settings
) -> None:
    world = await spread(tenant, sync_conn)
    before = dump(settings)
    found = traces(before, world.address)
    assert found, "the world must put the address in the dump"
    # the raw DMARC report holds it in upper case, inside a bytea value: it must be seen
    assert any(t.startswith("feedback-type: auth-failure") for t in found)

    r = await tenant.client.delete(f"/v1/subscribers/{world.subscriber_id}")
    assert r.status_code == 204

    assert traces(dump(settings), world.address) == []
    # what stays: the send as an anonymous count, its open, the consent proof
    send = sync_conn.execute(
        "SELECT subscriber_id, open_count, smtp_reply FROM sends WHERE id = %s", (world.send_id,)
    ).fetchone()
    assert send["subscriber_id"] is None and send["open_count"] == 1
    assert send["smtp_reply"] == "550 5.1.1 <[erased]>: user unknown"
    kept = sync_conn.execute(
        "SELECT action FROM consent_records WHERE sender_id = %s ORDER BY id",
        (tenant.sender_id,),
    ).fetchall()
    assert [k["action"] for k in kept] == ["subscribe", "confirm", "unsubscribe", "erase_request"]
    events = sync_conn.execute(
        "SELECT count(*) AS n FROM send_events WHERE email_id = %s", (world.email_id,)
    ).fetchone()
    assert events["n"] == 1
    replay = await tenant.client.post(
        "/v1/subscribers", json={"address": world.address}, headers={"Idempotency-Key": "x"}
    )
    assert replay.status_code == 201  # the address may come back; it is a new subscriber


async def test_erase_of_one_sender_leaves_another_senders_copy(
    tenant: Tenant, other: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    world = await spread(tenant, sync_conn)
    kept = await other.client.post("/v1/subscribers", json={"address": world.address})
    assert kept.status_code == 201
    assert (await other.client.delete(f"/v1/subscribers/{world.subscriber_id}")).status_code == 404
    assert (await tenant.client.delete(f"/v1/subscribers/{world.subscriber_id}")).status_code == 204
    row = sync_conn.execute(
        "SELECT address FROM subscribers WHERE id = %s", (kept.json()["id"],)
    ).fetchone()
    assert row["address"] == world.address


async def test_an_import_refuses_an_erased_address(
    tenant: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    """The keyed hash kept at erasure lets a later CSV import (an old export) refuse the
    address, without the database holding it; the person can still come back themselves."""
    world = await spread(tenant, sync_conn)
    assert (await tenant.client.delete(f"/v1/subscribers/{world.subscriber_id}")).status_code == 204
    csv = f"address\nkeep-{world.send_id}@example.org\n{world.address.upper()}\n".encode()
    r = await tenant.client.post(
        "/v1/subscribers/imports", content=csv, headers={"Content-Type": "text/csv"}
    )
    job = r.json()
    assert (job["imported_rows"], job["error_rows"]) == (1, 1)
    assert job["errors"] == [
        {"line": 3, "error": "this address was erased on request (GDPR): not imported again"}
    ]
    found = sync_conn.execute(
        "SELECT count(*) AS n FROM subscribers WHERE sender_id = %s AND address = %s",
        (tenant.sender_id, world.address),
    ).fetchone()
    assert found["n"] == 0
    again = await tenant.client.post("/v1/subscribers", json={"address": world.address})
    assert again.status_code == 201


async def test_the_consent_proof_of_an_erased_address_can_be_looked_up(
    tenant: Tenant, other: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    world = await spread(tenant, sync_conn)
    url = "/v1/subscribers/erased/lookup"
    before = await tenant.client.post(url, json={"address": world.address})
    assert before.status_code == 404  # not erased yet
    assert (await tenant.client.delete(f"/v1/subscribers/{world.subscriber_id}")).status_code == 204
    found = await tenant.client.post(url, json={"address": world.address.upper()})
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["erased_at"]
    assert [c["action"] for c in body["consent"]] == [
        "subscribe", "confirm", "unsubscribe", "erase_request"
    ]  # fmt: skip
    assert "ip" not in body["consent"][0]
    # another sender's key learns nothing about this sender's erasures
    assert (await other.client.post(url, json={"address": world.address})).status_code == 404
    bad = await tenant.client.post(url, json={"address": "not an address"})
    assert bad.status_code == 422
