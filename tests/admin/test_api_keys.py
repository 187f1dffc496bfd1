"""An administrator creates a sender's API key with its rate limit and, if wanted, the right to
create keys through the API; the rate limit is the one the API then enforces."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from services.api.app import create_app as create_api_app
from shared.config import Settings
from tests.admin.conftest import AdminClient, make_sender


def _key(sync_conn: psycopg.Connection[dict[str, Any]], prefix: str) -> dict[str, Any]:
    row = sync_conn.execute(
        "SELECT rate_per_minute, can_manage_keys FROM api_keys WHERE prefix = %s", [prefix]
    ).fetchone()
    assert row is not None
    return dict(row)


async def test_the_admin_sets_the_rate_limit_and_the_right(
    owner: AdminClient,
    pool: AsyncConnectionPool,
    settings: Settings,
    sync_conn: psycopg.Connection[dict[str, Any]],
) -> None:
    sender_id = await make_sender(pool)
    made = await owner.post(
        f"/senders/{sender_id}/keys",
        {"key_name": "limited", "key_rate": "3", "key_can_manage": "on"},
    )
    shown = re.search(r'id="new-api-key">(tart_[^<]+)<', made.text)
    assert made.status_code == 200 and shown, made.text[-1500:]
    key = shown.group(1)
    assert _key(sync_conn, key[:12]) == {"rate_per_minute": 3, "can_manage_keys": True}

    plain = await owner.post(f"/senders/{sender_id}/keys", {"key_name": "plain"})
    plain_key = re.search(r'id="new-api-key">(tart_[^<]+)<', plain.text)
    assert plain_key
    assert _key(sync_conn, plain_key.group(1)[:12]) == {
        "rate_per_minute": 600,
        "can_manage_keys": False,
    }
    refused = await owner.post(f"/senders/{sender_id}/keys", {"key_rate": "0"})
    assert refused.status_code == 400 and 'id="e-key_rate"' in refused.text

    api = create_api_app(settings)
    async with api.router.lifespan_context(api):
        transport = httpx.ASGITransport(app=api)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api.test", headers=headers
        ) as client:
            statuses = [(await client.get("/v1/sender")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
