"""Admin login throttling behind a trusted proxy (TART_TRUSTED_PROXIES) counts the client that
X-Forwarded-For names, so one client's failures do not lock out everyone behind the ingress; from
any other peer the header is ignored, so a forged one neither dodges nor frames anyone."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from services.admin.app import create_app
from shared.config import Settings
from tests.admin.conftest import csrf_of

PROXY = "10.42.7.9"  # an ingress controller pod
ELSEWHERE = "198.51.100.30"  # not a trusted proxy
CLIENT, NEIGHBOUR = "203.0.113.60", "203.0.113.61"
MAX_FAILURES_IP = 3


@pytest.fixture(scope="module")
async def behind_proxy(settings: Settings) -> AsyncIterator[FastAPI]:
    """The admin trusting the ingress pods (10.42.0.0/16), with a low per-IP failure limit."""
    app = create_app(
        settings.model_copy(
            update={
                "trusted_proxies": [ipaddress.ip_network("10.42.0.0/16")],
                "admin_login_max_failures_ip": MAX_FAILURES_IP,
            }
        )
    )
    async with app.router.lifespan_context(app):
        await app.state.pool.wait(timeout=10)
        yield app


async def _failed_login(app: FastAPI, peer: str, forwarded_for: str) -> int:
    """One login with a wrong password from ``peer``, which forwards ``forwarded_for``."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    headers = {"x-forwarded-for": forwarded_for}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://admin.test", headers=headers
    ) as client:
        page = await client.get("/login")
        response = await client.post(
            "/login",
            data={
                "email": f"nobody-{uuid.uuid4().hex[:8]}@example.com",  # no per-address limit
                "password": "wrong",
                "csrf_token": csrf_of(page.text),
            },
        )
    return response.status_code


def _attempts(sync_conn: psycopg.Connection[dict], ip: str) -> int:
    row = sync_conn.execute(
        "SELECT count(*) AS n FROM login_attempts WHERE ip = %s::inet", [ip]
    ).fetchone()
    assert row is not None
    return int(row["n"])


async def test_throttling_counts_the_forwarded_client_not_the_proxy(
    behind_proxy: FastAPI, sync_conn: psycopg.Connection[dict]
) -> None:
    for _ in range(MAX_FAILURES_IP):
        assert await _failed_login(behind_proxy, PROXY, f"192.0.2.99, {CLIENT}") == 400
    assert await _failed_login(behind_proxy, PROXY, CLIENT) == 429  # this client is throttled
    assert await _failed_login(behind_proxy, PROXY, NEIGHBOUR) == 400  # its neighbour is not
    assert _attempts(sync_conn, CLIENT) == MAX_FAILURES_IP + 1
    assert _attempts(sync_conn, NEIGHBOUR) == 1
    assert _attempts(sync_conn, PROXY) == 0

    # From a peer that is not a proxy, naming the throttled client changes nothing either way.
    assert await _failed_login(behind_proxy, ELSEWHERE, CLIENT) == 400
    assert _attempts(sync_conn, ELSEWHERE) == 1
    assert _attempts(sync_conn, CLIENT) == MAX_FAILURES_IP + 1
