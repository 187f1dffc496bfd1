"""Admin fixtures: the ASGI app with its lifespan, admin users, and clients already logged in."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from services.admin.app import create_app
from shared.admins import repository as admins
from shared.config import Settings
from shared.senders import repository as senders

PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class AdminClient:
    """An httpx client with a live session, and the CSRF token its pages carry."""

    user_id: int
    email: str
    client: httpx.AsyncClient
    csrf: str

    async def post(self, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(url, data={"csrf_token": self.csrf, **(data or {})})


@pytest.fixture(scope="session")
async def admin_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.pool.wait(timeout=10)
        yield app


def new_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test")


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def make_admin(pool: AsyncConnectionPool, role: str = "owner") -> str:
    email = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    async with pool.connection() as conn:
        await admins.create_admin(conn, email=email, password=PASSWORD, role=role)
    return email


async def log_in(app: FastAPI, email: str, password: str = PASSWORD) -> httpx.Response:
    client = new_client(app)
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )
    response.extensions["client"] = client
    return response


async def logged_in(app: FastAPI, pool: AsyncConnectionPool, role: str = "owner") -> AdminClient:
    email = await make_admin(pool, role)
    response = await log_in(app, email)
    assert response.status_code == 303, response.text
    client: httpx.AsyncClient = response.extensions["client"]
    page = await client.get("/account")
    async with pool.connection() as conn:
        user = await admins.find_user_by_email(conn, email)
    assert user is not None
    return AdminClient(user["id"], email, client, csrf_of(page.text))


@pytest.fixture
async def owner(admin_app: FastAPI, pool: AsyncConnectionPool) -> AsyncIterator[AdminClient]:
    a = await logged_in(admin_app, pool, "owner")
    yield a
    await a.client.aclose()


@pytest.fixture
async def member(admin_app: FastAPI, pool: AsyncConnectionPool) -> AsyncIterator[AdminClient]:
    a = await logged_in(admin_app, pool, "member")
    yield a
    await a.client.aclose()


async def make_sender(pool: AsyncConnectionPool, domain: str = "example.com") -> int:
    address = f"news-{uuid.uuid4().hex[:10]}@{domain}"
    async with pool.connection() as conn:
        row = await senders.create_sender(
            conn, address=address, name="News", public_base_url="https://links.example.com"
        )
    return int(row["id"])


@contextmanager
def admin_server(settings: Settings) -> Iterator[str]:
    """The admin app under uvicorn in a thread, on a free port (for the Chromium tests)."""
    from tests.fixtures.browser import serve  # Playwright and uvicorn: browser tests only

    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def admin_url(settings: Settings) -> Iterator[str]:
    with admin_server(settings) as url:
        yield url
