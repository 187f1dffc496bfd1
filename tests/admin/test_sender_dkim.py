"""The sender page's DKIM keys: generate under a selector ('next'), activate (retiring the key
of the same algorithm), retire, delete; errors inline."""

from __future__ import annotations

import re

import psycopg
from psycopg_pool import AsyncConnectionPool

from shared.senders import repository as senders
from tests.admin.conftest import AdminClient
from tests.conftest import unique_address


def states(sync_conn: psycopg.Connection[dict], sender_id: int) -> dict[str, str]:
    rows = sync_conn.execute(
        "SELECT selector, state::text AS state FROM sender_dkim_keys WHERE sender_id = %s",
        [sender_id],
    ).fetchall()
    return {r["selector"]: r["state"] for r in rows}


def key_id(page: str, selector: str) -> int:
    match = re.search(rf'id="dkim-key-(\d+)"><td><code>{selector}</code>', page)
    assert match, f"no row for {selector}"
    return int(match.group(1))


async def test_keys_are_generated_activated_rotated_and_deleted(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    async with pool.connection() as conn:
        sender = await senders.create_sender(
            conn, address=unique_address("news"), name="News",
            public_base_url="https://links.example.com",
        )  # fmt: skip
    sid = sender["id"]
    base = f"/senders/{sid}"
    for selector, algorithm in (("r1", "rsa-sha256"), ("e1", "ed25519-sha256")):
        r = await owner.post(f"{base}/dkim", {"selector": selector, "algorithm": algorithm})
        assert r.status_code == 303
    page = (await owner.client.get(base)).text
    assert "No active DKIM key: messages go out unsigned." in page
    domain = sender["address"].split("@")[1]
    assert f"r1._domainkey.{domain}" in page and "v=DKIM1; k=ed25519; p=" in page
    assert states(sync_conn, sid) == {"r1": "next", "e1": "next"}
    for selector in ("r1", "e1"):
        r = await owner.post(f"{base}/dkim/{key_id(page, selector)}/activate")
        assert r.status_code == 303
    assert states(sync_conn, sid) == {"r1": "active", "e1": "active"}

    r = await owner.post(f"{base}/dkim", {"selector": "r2", "algorithm": "rsa-sha256"})
    page = (await owner.client.get(base)).text
    await owner.post(f"{base}/dkim/{key_id(page, 'r2')}/activate")
    assert states(sync_conn, sid) == {"r1": "retired", "e1": "active", "r2": "active"}

    refused = await owner.post(f"{base}/dkim/{key_id(page, 'r2')}/delete")
    assert refused.status_code == 409 and states(sync_conn, sid)["r2"] == "active"
    assert (await owner.post(f"{base}/dkim/{key_id(page, 'r1')}/delete")).status_code == 303
    assert (await owner.post(f"{base}/dkim/{key_id(page, 'e1')}/retire")).status_code == 303
    assert states(sync_conn, sid) == {"e1": "retired", "r2": "active"}

    taken = await owner.post(f"{base}/dkim", {"selector": "r2", "algorithm": "rsa-sha256"})
    assert taken.status_code == 400 and "is taken" in taken.text
    bad = await owner.post(f"{base}/dkim", {"selector": "no spaces", "algorithm": "rsa-sha256"})
    assert bad.status_code == 400 and "letters, digits" in bad.text
    assert (await owner.post(f"{base}/dkim/999999999/activate")).status_code == 404
