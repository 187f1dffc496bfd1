"""/healthz and /readyz of the three web services, against the real servers."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from services.admin.app import create_app as admin_app
from services.api.app import create_app as api_app
from services.public.app import create_app as public_app
from shared.config import Settings
from tests.fixtures.ports import free_port
from tests.fixtures.proxy import TcpProxy

FACTORIES = {"api": api_app, "public": public_app, "admin": admin_app}


async def _get(app: FastAPI, path: str) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)


@pytest.mark.parametrize("service", FACTORIES)
async def test_ready_when_servers_are_up(service: str, settings: Settings) -> None:
    app = FACTORIES[service](settings)
    assert (await _get(app, "/healthz")).status_code == 200
    response = await _get(app, "/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize("service", FACTORIES)
async def test_metrics_endpoint(service: str, settings: Settings) -> None:
    app = FACTORIES[service](settings)
    await _get(app, "/healthz")
    body = (await _get(app, "/metrics")).text
    assert "tart_http_request_seconds" in body


async def test_readyz_names_the_broker_when_it_is_down(settings: Settings) -> None:
    dead = settings.model_copy(
        update={"amqp_url": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"}
    )
    response = await _get(api_app(dead), "/readyz")
    assert response.status_code == 503
    assert set(response.json()["down"]) == {"broker"}


async def test_readyz_follows_postgresql_down_and_back(settings: Settings) -> None:
    """PostgreSQL goes away behind a proxy: 503 naming the database, the process stays up,
    and 200 again once it is back, with no restart."""
    proxy = TcpProxy(5432)
    proxy.start()
    url = settings.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    app = public_app(settings.model_copy(update={"database_url": url}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await app.state.pool.wait(timeout=10)
            assert (await client.get("/readyz")).status_code == 200
            proxy.cut()
            down = await client.get("/readyz")
            assert down.status_code == 503
            assert set(down.json()["down"]) == {"database"}
            assert (await client.get("/healthz")).status_code == 200
            proxy.start()
            for _ in range(50):
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.2)
            else:
                pytest.fail("/readyz did not recover after PostgreSQL came back")
    proxy.cut()
