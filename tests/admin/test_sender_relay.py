"""The sender page pins a sender to a configured relay (or every relay in turn); an unknown
name is refused inline."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from shared.senders import repository as senders
from tests.admin.conftest import AdminClient
from tests.conftest import unique_address

SETTINGS = {
    "name": "News", "public_base_url": "https://links.example.com",
    "return_path_domain": "example.com", "soft_bounce_limit": "3", "soft_bounce_days": "30",
}  # fmt: skip


@pytest.fixture
def two_relays(admin_app: FastAPI) -> Iterator[None]:
    settings = admin_app.state.settings
    relays = ["smtp://relay-eu.example.net:587#eu", "smtp://10.0.0.7:2525"]
    admin_app.state.settings = settings.model_copy(update={"smtp_relays": relays})
    yield
    admin_app.state.settings = settings


async def test_the_sender_page_pins_and_unpins_a_relay(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict],
    two_relays: None,
) -> None:  # fmt: skip
    async with pool.connection() as conn:
        sender = await senders.create_sender(
            conn, address=unique_address("news"), name="News",
            public_base_url="https://links.example.com",
        )  # fmt: skip
    page = (await owner.client.get(f"/senders/{sender['id']}")).text
    assert '<option value="eu">only eu</option>' in page
    assert '<option value="10.0.0.7:2525">only 10.0.0.7:2525</option>' in page

    def relay() -> str | None:
        row = sync_conn.execute("SELECT relay FROM senders WHERE id = %s", [sender["id"]])
        return row.fetchone()["relay"]  # type: ignore[index]

    saved = await owner.post(f"/senders/{sender['id']}", {**SETTINGS, "relay": "eu"})
    assert saved.status_code == 303 and relay() == "eu"
    page = (await owner.client.get(f"/senders/{sender['id']}")).text
    assert '<option value="eu" selected>only eu</option>' in page
    refused = await owner.post(f"/senders/{sender['id']}", {**SETTINGS, "relay": "us"})
    assert refused.status_code == 400
    assert "no relay named &#39;us&#39;" in refused.text and relay() == "eu"
    saved = await owner.post(f"/senders/{sender['id']}", {**SETTINGS, "relay": ""})
    assert saved.status_code == 303 and relay() is None
