"""ESP intake fixtures: the receiver's web app with its lifespan, a client, and a world
(tests/receiver/conftest.py) whose sender has every provider configured with generated keys."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from services.receiver.esp import app as esp_app
from services.receiver.esp import verify
from shared.config import Settings
from shared.esp.service import hash_secret
from shared.tokens import TokenCodec
from tests.receiver.conftest import World, make_world
from tests.receiver.esp.signing import CERT_URL, TOPIC, SendGridSigner, SnsSigner


@dataclass
class Providers:
    world: World
    sns: SnsSigner
    sendgrid: SendGridSigner
    mailgun_key: str
    postmark_user: str
    postmark_password: str
    confirmed: list[str]

    def url(self, provider: str, sender_id: int | None = None) -> str:
        return f"/esp/{sender_id or self.world.sender_id}/{provider}"

    def message_id(self, address: str) -> str:
        return f"<{self.world.token(address)}@news.example.com>"


@pytest.fixture(scope="session")
async def receiver_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = esp_app.create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.pool.wait(timeout=10)
        yield app


@pytest.fixture
async def client(receiver_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver_app), base_url="http://receiver.test"
    ) as client:
        yield client


@pytest.fixture(scope="session")
def sns_signer() -> SnsSigner:
    return SnsSigner.create()


def configure(conn: psycopg.Connection[dict], sender_id: int, p: Providers) -> None:
    rows = [
        ("ses", [TOPIC], None, None, None, None),
        ("sendgrid", [], p.sendgrid.public_key, None, None, None),
        ("postmark", [], None, p.postmark_user, hash_secret(p.postmark_password), None),
        ("mailgun", [], None, None, None, p.mailgun_key),
    ]
    for provider, arns, key, user, secret_hash, secret in rows:
        conn.execute(
            "INSERT INTO esp_endpoints (sender_id, provider, topic_arns, public_key, username,"
            " secret_hash, secret) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (sender_id, provider, arns, key, user, secret_hash, secret),
        )


@pytest.fixture
def providers(
    sync_conn: psycopg.Connection[dict],
    codec: TokenCodec,
    sns_signer: SnsSigner,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Providers]:
    """A world whose sender takes callbacks from the four providers. The SNS certificate fetch
    and the subscription confirmation are patched for this test only: they answer the one SNS
    URL the test signs with and refuse any other."""
    p = Providers(
        world=make_world(sync_conn, codec),
        sns=sns_signer,
        sendgrid=SendGridSigner.create(),
        mailgun_key="key-" + secrets.token_hex(16),
        postmark_user="postmark",
        postmark_password=secrets.token_urlsafe(24),
        confirmed=[],
    )
    configure(sync_conn, p.world.sender_id, p)

    async def fetch_certificate(url: str) -> bytes:
        assert url == CERT_URL, url
        return sns_signer.cert_pem

    async def confirm_subscription(url: str) -> None:
        p.confirmed.append(url)

    monkeypatch.setattr(verify, "fetch_certificate", fetch_certificate)
    monkeypatch.setattr(esp_app, "confirm_subscription", confirm_subscription)
    yield p
