"""Security fixtures: the API, admin and public apps from their areas (reused, not
duplicated) and tenants whose senders sit on their own domains, so per-domain data (DMARC
reports) is theirs alone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from shared.senders import repository as senders
from tests.admin.conftest import admin_app, member, owner
from tests.api.conftest import Tenant, api_app
from tests.public.conftest import public, world, world_factory

__all__ = [
    "Tenant", "admin_app", "api_app", "domain_tenant", "member", "owner", "public", "world",
    "world_factory",
]  # fmt: skip


async def domain_tenant(pool: AsyncConnectionPool, app: FastAPI) -> Tenant:
    domain = f"d{uuid.uuid4().hex[:10]}.example"
    address = f"news@{domain}"
    async with pool.connection() as conn:
        sender = await senders.create_sender(
            conn, address=address, name="News", public_base_url=f"https://links.{domain}",
            return_path_domain=f"bounces.{domain}",
        )  # fmt: skip
        key, _ = await senders.create_api_key(conn, sender["id"], "security")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api.test",
        headers={"Authorization": f"Bearer {key}"},
    )
    return Tenant(sender["id"], address, key, client)


@pytest.fixture
async def alice(pool: AsyncConnectionPool, api_app: FastAPI) -> AsyncIterator[Tenant]:
    t = await domain_tenant(pool, api_app)
    yield t
    await t.client.aclose()


@pytest.fixture
async def mallory(pool: AsyncConnectionPool, api_app: FastAPI) -> AsyncIterator[Tenant]:
    t = await domain_tenant(pool, api_app)
    yield t
    await t.client.aclose()
