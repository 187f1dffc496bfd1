"""The IMAP poller over TLS against a private Dovecot whose certificate is signed by a private
CA: imaps:// and imap+starttls:// fetch, store, publish and mark a message when TART_TLS_CA_FILE
names that CA; a server the configured CA did not sign is refused, retried, and nothing is
stored or marked."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from services.receiver import poller
from services.receiver.poller import PROCESSED_KEYWORD, Mailbox, MailboxPoller, connect
from shared.config import Settings
from shared.tls import client_context
from tests.fixtures.dovecot import Dovecot, start_dovecot
from tests.fixtures.tls import make_ca
from tests.receiver import messages
from tests.receiver.test_poller import async_wait, folder_flags, inbound_rows, new_folder


@pytest.fixture(scope="module")
def dovecot_tls() -> Iterator[Dovecot]:
    server = start_dovecot(tls=True)
    yield server
    server.stop()


def trusting(settings: Settings, ca_file: Path | None) -> Settings:
    return settings.model_copy(update={"tls_ca_file": str(ca_file), "imap_poll_seconds": 0.3})


class Warnings:
    """Records the poller's warning log calls (the poller logs each failed connection)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, **fields})

    def info(self, event: str, **fields: Any) -> None:
        pass


@pytest.mark.parametrize("scheme", ["imaps", "imap+starttls"])
async def test_tls_mailbox_is_fetched_stored_published_and_marked(
    scheme: str,
    dovecot_tls: Dovecot,
    pool: AsyncConnectionPool,
    settings: Settings,
    sync_conn: psycopg.Connection[dict[str, Any]],
    parser_worker: subprocess.Popen[bytes],
) -> None:
    folder = new_folder(dovecot_tls, [messages.autoreply("news@example.com")])
    box = Mailbox.from_url(dovecot_tls.url(folder, scheme=scheme))
    assert box.security == ("tls" if scheme == "imaps" else "starttls")
    stop = asyncio.Event()
    task = asyncio.create_task(
        MailboxPoller(box, pool, trusting(settings, dovecot_tls.ca_file)).run(stop)
    )
    try:
        # "parsed" proves the inbound.parse message was published and consumed.
        await async_wait(
            lambda: [r["state"] for r in inbound_rows(sync_conn, folder)] == ["parsed"], 20
        )
        await async_wait(lambda: PROCESSED_KEYWORD in folder_flags(dovecot_tls, folder)[0])
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert [r["kind"] for r in inbound_rows(sync_conn, folder)] == ["autoreply"]


@pytest.mark.parametrize("scheme", ["imaps", "imap+starttls"])
async def test_a_server_not_signed_by_the_configured_ca_is_refused(
    scheme: str,
    dovecot_tls: Dovecot,
    pool: AsyncConnectionPool,
    settings: Settings,
    sync_conn: psycopg.Connection[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = new_folder(dovecot_tls, [messages.autoreply("news@example.com")])
    box = Mailbox.from_url(dovecot_tls.url(folder, scheme=scheme))
    other_ca = make_ca(tmp_path, "other-" + uuid.uuid4().hex[:6])
    warnings = Warnings()
    monkeypatch.setattr(poller, "log", warnings)
    stop = asyncio.Event()
    task = asyncio.create_task(
        MailboxPoller(box, pool, trusting(settings, other_ca.cert_file)).run(stop)
    )
    try:
        # The backoff starts at 1 s: a second attempt shows the poller retries.
        await async_wait(lambda: len(warnings.events) >= 2, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert all("CERTIFICATE_VERIFY_FAILED" in e["error"] for e in warnings.events), warnings.events
    assert inbound_rows(sync_conn, folder) == []
    assert PROCESSED_KEYWORD not in folder_flags(dovecot_tls, folder)[0]


def test_the_system_store_does_not_trust_a_private_ca(
    dovecot_tls: Dovecot, settings: Settings
) -> None:
    """Without TART_TLS_CA_FILE the system trust store applies; a private CA is not in it."""
    box = Mailbox.from_url(dovecot_tls.url(scheme="imaps"))
    system = settings.model_copy(update={"tls_ca_file": ""})
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        connect(box, timeout=5, context=client_context(system))


def test_tls_verify_false_connects_in_dev_only(dovecot_tls: Dovecot, settings: Settings) -> None:
    box = Mailbox.from_url(dovecot_tls.url(scheme="imap+starttls"))
    insecure = settings.model_copy(update={"tls_verify": False, "tls_ca_file": ""})
    client = connect(box, timeout=5, context=client_context(insecure))
    with contextlib.suppress(Exception):
        client.logout()
    with pytest.raises(ValueError, match="TART_TLS_VERIFY=false is for dev only"):
        Settings(
            env="prod",
            tls_verify=False,
            token_secrets=["x" * 32],
            session_secret="y" * 32,
            erasure_key="z" * 32,
        )
