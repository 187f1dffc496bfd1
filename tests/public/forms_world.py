# ruff: noqa: RUF001 - Turkish labels
"""Committed fixtures for the subscription form tests: a sender with topics, forms, a welcome
email, the public app on its own client address, and helpers to submit and read back."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from services.public.app import create_app
from services.public.forms import form_token
from shared.config import Settings
from shared.tokens import signed_values


@dataclass
class Shop:
    """A sender with topics ``news`` and ``offers``, a welcome email and a double opt-in form."""

    db: psycopg.Connection[dict[str, Any]]
    sender_id: int
    welcome_email_id: int
    form_id: int
    forms: list[int] = field(default_factory=list)

    def form(self, **settings: Any) -> int:
        columns = {
            "name": "Newsletter", "locales": ["en", "tr"], "fields": ["first_name"],
            "topics": ["news", "offers"], "double_opt_in": True,
            "allowed_origins": ["https://www.shop.example"], "welcome_email_id": None,
            **settings,
        }  # fmt: skip
        names = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        row = self.db.execute(
            f"INSERT INTO forms (sender_id, {names}) VALUES (%s, {marks}) RETURNING id",
            [self.sender_id, *columns.values()],
        ).fetchone()
        assert row is not None
        return int(row["id"])

    def subscriber(self, address: str) -> dict[str, Any] | None:
        return self.db.execute(
            "SELECT id, state::text AS state, locale::text AS locale, properties "
            "FROM subscribers WHERE sender_id = %s AND address = %s",
            [self.sender_id, address],
        ).fetchone()

    def count(self, sql: str, *params: Any) -> int:
        row = self.db.execute(sql, params).fetchone()
        assert row is not None
        return int(next(iter(row.values())))

    def confirmation(self, address: str) -> dict[str, Any] | None:
        return self.db.execute(
            "SELECT c.* FROM confirmations c JOIN subscribers s ON s.id = c.subscriber_id "
            "WHERE s.sender_id = %s AND s.address = %s",
            [self.sender_id, address],
        ).fetchone()


def address() -> str:
    return f"visitor-{uuid.uuid4().hex[:12]}@example.net"


def make_shop(settings: Settings) -> Shop:
    """Committed rows; ``drop_shop`` deletes them (the sender, cascading)."""
    db = psycopg.connect(settings.database_url, autocommit=True, row_factory=dict_row)
    tag = uuid.uuid4().hex[:10]
    sender = db.execute(
        "INSERT INTO senders (address, name, public_base_url, return_path_domain) "
        "VALUES (%s, 'Tart Shop', 'https://links.example.com', %s) RETURNING id",
        [f"shop-{tag}@example.com", f"b-{tag}.example.com"],
    ).fetchone()
    assert sender is not None
    sender_id = int(sender["id"])
    db.execute(
        "INSERT INTO sender_topics (sender_id, key, label_en, label_tr, position) VALUES "
        "(%s, 'news', 'News', 'Haberler', 1), (%s, 'offers', 'Offers', 'Fırsatlar', 2)",
        [sender_id, sender_id],
    )
    email = db.execute(
        "INSERT INTO emails (sender_id, name, bulk) VALUES (%s, 'Welcome', false) RETURNING id",
        [sender_id],
    ).fetchone()
    assert email is not None
    db.execute(
        "INSERT INTO variations (email_id, subject, plain_body) VALUES "
        "(%s, 'Welcome {{ first_name }}', 'Glad you are here.\nPreferences: "
        "{{ preferences_url }}\nUnsubscribe: {{ unsubscribe_url }}\n')",
        [email["id"]],
    )
    shop = Shop(db, sender_id, int(email["id"]), 0)
    shop.form_id = shop.form(welcome_email_id=email["id"])
    return shop


def drop_shop(shop: Shop) -> None:
    shop.db.execute("DELETE FROM senders WHERE id = %s", [shop.sender_id])
    shop.db.close()


@pytest.fixture
def shop(settings: Settings) -> Iterator[Shop]:
    made = make_shop(settings)
    yield made
    drop_shop(made)


@dataclass
class Site:
    """The public app, a client with its own address (throttles count per client IP), and the
    settings it runs with."""

    client: httpx.AsyncClient
    settings: Settings
    ip: str

    def ts(self, form_id: int, *, age: float = 30.0) -> str:
        """A form token as if the page had been served ``age`` seconds ago."""
        codec = signed_values(
            [s.get_secret_value() for s in self.settings.token_secrets], "form-ts"
        )
        issued = int(time.time() - age)
        return codec.sign([form_id, issued], expires_at=issued + 3600)

    def fresh_ts(self, form_id: int) -> str:
        return form_token(self.settings, form_id)

    async def submit(self, form_id: int, email: str, **fields: Any) -> httpx.Response:
        data: dict[str, Any] = {"email": email, "ts": self.ts(form_id), **fields}
        return await self.client.post(f"/f/{form_id}", data=data)


async def open_site(settings: Settings) -> AsyncIterator[Site]:
    from tests.public.conftest import CollectingSink

    app = create_app(settings, event_sink=CollectingSink())
    ip = f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(ip, 5555))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="https://links.example.com",
            headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
        ) as client:
            yield Site(client, settings, ip)


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[Site]:
    async for s in open_site(settings):
        yield s
