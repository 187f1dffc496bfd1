"""API fixtures: the ASGI app with its lifespan, and two senders with their own keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from services.api.app import create_app
from shared.config import Settings
from shared.senders import repository as senders


@dataclass
class Tenant:
    sender_id: int
    address: str
    key: str
    client: httpx.AsyncClient


@pytest.fixture(scope="session")
async def api_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.pool.wait(timeout=10)
        yield app


async def make_tenant(
    pool: AsyncConnectionPool,
    app: FastAPI,
    rate: int | None = None,
    domain: str | None = None,
    manage_keys: bool = False,
) -> Tenant:
    """A sender with a key and a client. With ``domain``, the sender's addresses and links are
    all on that domain, so per-domain data (DMARC reports) is its alone."""
    address = f"news-{uuid.uuid4().hex[:10]}@example.com"
    on_domain: dict[str, str] = {"public_base_url": "https://links.example.com"}
    if domain is not None:
        address = f"news@{domain}"
        on_domain = {
            "public_base_url": f"https://links.{domain}",
            "return_path_domain": f"bounces.{domain}",
        }
    async with pool.connection() as conn:
        sender = await senders.create_sender(conn, address=address, name="News", **on_domain)
        key, row = await senders.create_api_key(
            conn, sender["id"], "tests", can_manage_keys=manage_keys
        )
        if rate is not None:
            await conn.execute(
                "UPDATE api_keys SET rate_per_minute = %s WHERE id = %s", [rate, row["id"]]
            )
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api.test",
        headers={"Authorization": f"Bearer {key}"},
    )
    return Tenant(sender["id"], address, key, client)


@pytest.fixture
async def tenant(pool: AsyncConnectionPool, api_app: FastAPI) -> AsyncIterator[Tenant]:
    t = await make_tenant(pool, api_app)
    yield t
    await t.client.aclose()


@pytest.fixture
async def other(pool: AsyncConnectionPool, api_app: FastAPI) -> AsyncIterator[Tenant]:
    t = await make_tenant(pool, api_app)
    yield t
    await t.client.aclose()


def email_body(name: str = "News") -> dict[str, object]:
    return {
        "name": name,
        "variations": [
            {"name": "A", "subject": "Hi {{ address }}", "plain_body": "Hello {{ address }}"}
        ],
    }
