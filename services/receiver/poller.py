"""IMAP poller: store each new message, queue inbound.parse, then mark it processed.

One task per configured mailbox (TART_IMAP_URLS: imap://, imaps:// or imap+starttls://
user:password@host:port/MAILBOX). imapclient is blocking, so every IMAP call runs in a thread.
IDLE is used where the server offers it, else the mailbox is polled; a lost connection is
retried with exponential backoff. See services/receiver/ingest.py for why the order of the
three steps makes intake lossless.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient
from psycopg_pool import AsyncConnectionPool

from services.receiver import metrics
from services.receiver.ingest import store_and_queue_many
from shared.config import Settings, get_settings
from shared.db import create_pool
from shared.logging import get_logger
from shared.tls import client_context

log = get_logger(__name__)

PROCESSED_KEYWORD = b"$TartProcessed"
FETCH_BATCH = 100
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class Mailbox:
    """One account's folder to watch, parsed from a TART_IMAP_URLS entry."""

    host: str
    port: int
    user: str
    password: str
    folder: str
    security: str  # tls, starttls or plain

    @property
    def name(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"

    @classmethod
    def from_url(cls, url: str) -> Mailbox:
        parts = urlsplit(url)
        security = {"imaps": "tls", "imap+starttls": "starttls", "imap": "plain"}.get(parts.scheme)
        if security is None or not parts.hostname:
            raise ValueError(f"unsupported IMAP URL scheme or host: {parts.scheme}://…")
        default_port = 993 if security == "tls" else 143
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
            security=security,
        )


def connect(
    box: Mailbox, timeout: float = 30.0, context: ssl.SSLContext | None = None
) -> IMAPClient:
    """Log in and select the folder (blocking).

    ``context`` verifies the server for imaps:// and imap+starttls:// (default: the one built
    from TART_TLS_CA_FILE / TART_TLS_VERIFY). A server that does not offer STARTTLS fails the
    connection rather than continuing in plain text.
    """
    if context is None:
        context = client_context(get_settings())
    client = IMAPClient(
        box.host, port=box.port, ssl=box.security == "tls", ssl_context=context, timeout=timeout
    )
    try:
        if box.security == "starttls":
            client.starttls(context)
        client.login(box.user, box.password)
        client.select_folder(box.folder)
    except BaseException:
        with contextlib.suppress(Exception):  # a refused handshake or login: drop the socket
            client.shutdown()
        raise
    return client


class MailboxPoller:
    """Drains one mailbox: fetch, store + queue, mark; then IDLE or sleep; reconnect on error.

    ``after_step`` is called with "stored", "published" or "marked" and the IMAP uids after each
    step; tests use it to crash the poller between steps.
    """

    def __init__(
        self,
        box: Mailbox,
        pool: AsyncConnectionPool,
        settings: Settings,
        after_step: Callable[[str, list[int]], None] | None = None,
    ) -> None:
        self.box = box
        self.pool = pool
        self.settings = settings
        self.after_step = after_step or (lambda step, uids: None)
        self.stopping = threading.Event()
        self.source = f"imap:{box.user}@{box.host}/{box.folder}"[:200]

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 1.0
        watcher = asyncio.create_task(self._mirror_stop(stop))
        try:
            while not stop.is_set():
                client: IMAPClient | None = None
                try:
                    client = await asyncio.to_thread(
                        connect, self.box, context=client_context(self.settings)
                    )
                    backoff = 1.0
                    await self._serve(client, stop)
                except Exception as error:
                    log.warning("imap mailbox error", mailbox=self.box.name, error=str(error))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                finally:
                    if client is not None:
                        await asyncio.to_thread(_logout, client)
        finally:
            watcher.cancel()

    async def _mirror_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.stopping.set()

    async def _serve(self, client: IMAPClient, stop: asyncio.Event) -> None:
        idle = b"IDLE" in client.capabilities()
        if self.settings.imap_processed == "move":
            await asyncio.to_thread(_ensure_folder, client, self.settings.imap_processed_folder)
        while not stop.is_set():
            await self.drain(client)
            if idle:
                await asyncio.to_thread(self._idle_wait, client)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.imap_poll_seconds)

    async def drain(self, client: IMAPClient) -> int:
        """Process every message not yet processed; returns how many were handled."""
        criteria: list[Any] = ["NOT", "KEYWORD", PROCESSED_KEYWORD.decode()]
        if self.settings.imap_processed != "flag":
            criteria = ["NOT", "DELETED"]
        uids: list[int] = sorted(await asyncio.to_thread(client.search, criteria))
        handled = 0
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            fetched = await asyncio.to_thread(client.fetch, batch, [b"BODY.PEEK[]"])
            done: list[int] = []
            raws: list[bytes] = []
            for uid in batch:
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if raw is None:
                    continue  # expunged meanwhile
                done.append(uid)
                raws.append(bytes(raw))
            metrics.FETCHED.labels("imap").inc(len(raws))
            await store_and_queue_many(self.pool, raws, source=self.source, settings=self.settings)
            self.after_step("published", done)
            if done:
                await asyncio.to_thread(self._mark, client, done)
                self.after_step("marked", done)
            handled += len(done)
        return handled

    def _mark(self, client: IMAPClient, uids: list[int]) -> None:
        action = self.settings.imap_processed
        if action == "flag":
            client.add_flags(uids, [b"\\Seen", PROCESSED_KEYWORD], silent=True)
        elif action == "move":
            if b"MOVE" in client.capabilities():
                client.move(uids, self.settings.imap_processed_folder)
            else:
                client.copy(uids, self.settings.imap_processed_folder)
                client.delete_messages(uids, silent=True)
                client.uid_expunge(
                    uids
                ) if b"UIDPLUS" in client.capabilities() else client.expunge()
        else:
            client.delete_messages(uids, silent=True)
            client.uid_expunge(uids) if b"UIDPLUS" in client.capabilities() else client.expunge()

    def _idle_wait(self, client: IMAPClient) -> None:
        """IDLE until the server reports something, the poll interval passes, or we stop."""
        client.idle()
        try:
            waited = 0.0
            while not self.stopping.is_set() and waited < self.settings.imap_poll_seconds:
                if client.idle_check(timeout=1):
                    break
                waited += 1
        finally:
            client.idle_done()


def _ensure_folder(client: IMAPClient, folder: str) -> None:
    if not client.folder_exists(folder):
        client.create_folder(folder)


def _logout(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):  # the connection is being dropped anyway
        client.logout()


async def run(stop: asyncio.Event) -> None:
    """The poller process: one MailboxPoller per TART_IMAP_URLS entry."""
    settings = get_settings()
    if not settings.imap_urls:
        log.info("no IMAP mailbox configured (TART_IMAP_URLS); the poller idles")
        await stop.wait()
        return
    boxes = [Mailbox.from_url(url) for url in settings.imap_urls]
    pool = create_pool(settings, name="poller", max_size=max(2, len(boxes)))
    await pool.open(wait=False)
    try:
        await asyncio.gather(*(MailboxPoller(box, pool, settings).run(stop) for box in boxes))
    finally:
        await pool.close()
