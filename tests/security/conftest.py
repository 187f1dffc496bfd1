"""Security fixtures: the API, admin and public apps from their areas (reused, not
duplicated) and tenants whose senders sit on their own domains, so per-domain data (DMARC
reports) is theirs alone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from tests.admin.conftest import admin_app, member, owner
from tests.api.conftest import Tenant, api_app, make_tenant
from tests.public.conftest import public, world, world_factory

__all__ = [
    "Tenant", "admin_app", "api_app", "domain_tenant", "member", "owner", "public", "world",
    "world_factory",
]  # fmt: skip


async def domain_tenant(pool: AsyncConnectionPool, app: FastAPI) -> Tenant:
    # Keys that may manage keys, so the key routes answer on isolation, not on the right.
    return await make_tenant(
        pool, app, domain=f"d{uuid.uuid4().hex[:10]}.example", manage_keys=True
    )


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
