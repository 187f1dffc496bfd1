"""/v1/sender/dkim-keys: dual signatures (RSA and Ed25519) and a rotation under a new selector
without a gap, checked on composed messages with dkimpy. Private keys never come back."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from services.sender.message import Composer
from shared.senders.dkim import generate_private_key
from shared.sends import repository as sends
from tests.api.conftest import Tenant
from tests.sender.conftest import verified_selectors

VARIATION = {"id": 1, "subject": "Hi {{ properties.n }}", "plain_body": "Hello"}


async def signed_message(pool: AsyncConnectionPool, t: Tenant, n: int) -> bytes:
    """A message composed as a batch would, with the sender's keys as they are now."""
    async with pool.connection() as conn:
        ctx = await sends.sender_context(conn, t.sender_id)
    assert ctx is not None
    composer = Composer(ctx, bulk=True, track_clicks=False, email_id=1)
    subscriber = {"address": f"r{n}@example.org", "properties": {"n": n}}
    return composer.compose(VARIATION, subscriber, f"tok{n}").data


def records(keys: list[dict[str, Any]]) -> dict[str, str]:
    return {k["dns_name"]: k["dns_value"] for k in keys}


async def test_dual_signatures_and_a_rotation_without_a_gap(
    tenant: Tenant, pool: AsyncConnectionPool
) -> None:
    c = tenant.client
    rsa = await c.post(
        "/v1/sender/dkim-keys", json={"selector": "r2026", "algorithm": "rsa-sha256"}
    )
    assert rsa.status_code == 201, rsa.text
    ed = await c.post(
        "/v1/sender/dkim-keys", json={"selector": "e2026", "algorithm": "ed25519-sha256"}
    )
    assert ed.status_code == 201, ed.text
    domain = tenant.address.split("@")[1]
    assert rsa.json()["dns_name"] == f"r2026._domainkey.{domain}"
    assert rsa.json()["dns_value"].startswith("v=DKIM1; k=rsa; p=")
    assert ed.json()["dns_value"].startswith("v=DKIM1; k=ed25519; p=")
    assert {rsa.json()["state"], ed.json()["state"]} == {"next"}
    # Created keys sign nothing until activated (their records may not be published yet).
    assert b"DKIM-Signature" not in await signed_message(pool, tenant, 0)

    for key in (rsa, ed):
        r = await c.post(f"/v1/sender/dkim-keys/{key.json()['id']}/activate")
        assert r.status_code == 200 and r.json()["state"] == "active"
    published = records((await c.get("/v1/sender/dkim-keys")).json()["items"])
    message = await signed_message(pool, tenant, 1)
    assert verified_selectors(message, published) == ["r2026", "e2026"], "two signatures, RSA first"
    sender = (await c.get("/v1/sender")).json()
    assert (sender["dkim_selector"], sender["dkim_algorithm"]) == ("r2026", "rsa-sha256")

    # Rotation: a new RSA key under a new selector, published, then activated.
    new = await c.post("/v1/sender/dkim-keys", json={"selector": "r2027"})
    assert new.status_code == 201 and new.json()["algorithm"] == "rsa-sha256"
    assert verified_selectors(await signed_message(pool, tenant, 2), published) == [
        "r2026", "e2026"
    ], "until the switch the old key signs"  # fmt: skip
    published.update(records([new.json()]))
    r = await c.post(f"/v1/sender/dkim-keys/{new.json()['id']}/activate")
    assert r.status_code == 200
    keys = {k["selector"]: k for k in (await c.get("/v1/sender/dkim-keys")).json()["items"]}
    assert {s: k["state"] for s, k in keys.items()} == {
        "r2026": "retired", "e2026": "active", "r2027": "active"
    }  # fmt: skip
    assert keys["r2026"]["retired_at"] is not None
    assert verified_selectors(await signed_message(pool, tenant, 3), published) == [
        "r2027", "e2026"
    ]  # fmt: skip
    # Mail signed before the switch still verifies: the old record stays published.
    assert verified_selectors(message, published) == ["r2026", "e2026"]

    # Retiring the Ed25519 key leaves one signature; a retired key can be deleted, not an active.
    r = await c.post(f"/v1/sender/dkim-keys/{ed.json()['id']}/retire")
    assert r.status_code == 200 and r.json()["state"] == "retired"
    assert verified_selectors(await signed_message(pool, tenant, 4), published) == ["r2027"]
    assert (await c.delete(f"/v1/sender/dkim-keys/{new.json()['id']}")).status_code == 409
    assert (await c.delete(f"/v1/sender/dkim-keys/{ed.json()['id']}")).status_code == 204
    assert (await c.get(f"/v1/sender/dkim-keys/{ed.json()['id']}")).status_code == 404
    listed = (await c.get("/v1/sender/dkim-keys")).text
    assert "PRIVATE KEY" not in listed and "private_key" not in listed


async def test_an_imported_key_signs_and_bad_keys_are_refused(
    tenant: Tenant, pool: AsyncConnectionPool
) -> None:
    c = tenant.client
    pem = generate_private_key("ed25519-sha256")
    r = await c.post(
        "/v1/sender/dkim-keys",
        json={"selector": "imported", "algorithm": "ed25519-sha256", "private_key": pem},
    )
    assert r.status_code == 201, r.text
    assert "private_key" not in r.json() and "PRIVATE" not in r.text
    await c.post(f"/v1/sender/dkim-keys/{r.json()['id']}/activate")
    assert verified_selectors(await signed_message(pool, tenant, 1), records([r.json()])) == [
        "imported"
    ]
    dup = await c.post("/v1/sender/dkim-keys", json={"selector": "imported"})
    assert dup.status_code == 409 and "selector 'imported' is taken" in dup.json()["detail"]
    wrong = await c.post(
        "/v1/sender/dkim-keys",
        json={"selector": "w", "algorithm": "rsa-sha256", "private_key": pem},
    )
    assert wrong.status_code == 422 and "cannot sign rsa-sha256" in wrong.json()["detail"]
    junk = await c.post(
        "/v1/sender/dkim-keys", json={"selector": "j", "private_key": "-----BEGIN nonsense"}
    )
    assert junk.status_code == 422 and "not a PEM" in junk.json()["detail"]


@pytest.mark.parametrize("selector", ["", "-x", "a b", "x" * 64, "s\r\nX: y", "ü"])
async def test_a_bad_selector_is_a_422(tenant: Tenant, selector: str) -> None:
    r = await tenant.client.post("/v1/sender/dkim-keys", json={"selector": selector})
    assert r.status_code == 422, r.text
