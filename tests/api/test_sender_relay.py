"""PATCH /v1/sender pins a sender to a configured relay by name; an unknown name is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from tests.api.conftest import Tenant


@pytest.fixture
def two_relays(api_app: FastAPI) -> Iterator[None]:
    """The API process configured with two relays: one named, one by host:port."""
    settings = api_app.state.settings
    relays = ["smtp://user:secret@relay-eu.example.net:587#eu", "smtp://10.0.0.7:2525"]
    api_app.state.settings = settings.model_copy(update={"smtp_relays": relays})
    yield
    api_app.state.settings = settings


async def test_a_sender_is_pinned_to_a_relay_by_name_and_unpinned_with_null(
    tenant: Tenant, two_relays: None
) -> None:
    c = tenant.client
    assert (await c.get("/v1/sender")).json()["relay"] is None
    for name in ("eu", "10.0.0.7:2525"):
        r = await c.patch("/v1/sender", json={"relay": name})
        assert r.status_code == 200, r.text
        assert r.json()["relay"] == name
    assert (await c.patch("/v1/sender", json={"name": "Other"})).json()["relay"] == "10.0.0.7:2525"
    r = await c.patch("/v1/sender", json={"relay": None})
    assert r.status_code == 200 and r.json()["relay"] is None


@pytest.mark.parametrize("name", ["us", "relay-eu.example.net:587", "EU", ""])
async def test_an_unknown_relay_name_is_a_clear_422(
    tenant: Tenant, two_relays: None, name: str
) -> None:
    c = tenant.client
    await c.patch("/v1/sender", json={"relay": "eu"})
    r = await c.patch("/v1/sender", json={"relay": name})
    assert r.status_code == 422, r.text
    if name:  # (an empty name fails the schema's min_length before the names are checked)
        detail = r.json()["detail"]
        assert f"no relay named {name!r}" in detail and "eu, 10.0.0.7:2525" in detail
        assert "secret" not in detail, "a relay's name never holds its credentials"
    assert (await c.get("/v1/sender")).json()["relay"] == "eu", "nothing changed"
