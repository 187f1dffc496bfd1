# ruff: noqa: RUF001 - Turkish text
"""The preference center as a subscriber uses it, in headless Debian Chromium (Playwright) with
JavaScript off: a real message from the sender worker carries {{ preferences_url }}; a link
scanner fetching every URL of it changes nothing; the subscriber opens the link (Turkish),
changes a topic, saves, and unsubscribes from everything, each step a consent record.
Screenshots go to test-artifacts/preferences/."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.public.app import create_app
from shared.campaigns import service as campaigns
from shared.config import Settings
from shared.jobs import publish
from shared.tokens import codec_from_settings_secrets
from tests.fixtures.browser import ARTIFACTS as BROWSER_ARTIFACTS
from tests.fixtures.browser import chromium, screenshot, serve, wait_until
from tests.fixtures.smtp import SmtpPeer
from tests.sender.conftest import WorkerProcess, worker_env

ARTIFACTS = BROWSER_ARTIFACTS / "preferences"
PLAIN = "Merhaba {{ name }}\nTercihler: {{ preferences_url }}\nAyrıl: {{ unsubscribe_url }}\n"
HTML = (
    '<p>Merhaba {{ name }}</p><a href="https://example.org/a">A</a> '
    '<a href="{{ preferences_url }}">Tercihler</a> <a href="{{ unsubscribe_url }}">Ayrıl</a>'
)


@pytest.fixture(scope="module")
def public_url(settings: Settings) -> Iterator[str]:
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def worker(smtp_peer_session: SmtpPeer) -> Iterator[WorkerProcess]:
    process = WorkerProcess(worker_env(smtp_peer_session.url))
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(ARTIFACTS) as b:
        yield b


def _shot(page: Page, name: str) -> None:
    screenshot(page, ARTIFACTS, name)


async def _send(database_url: str, sender_id: int, email_id: int, subscriber_id: int) -> None:
    """A transactional send through the real path: the send row, then send.batch after COMMIT."""
    async with await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as conn:
        _send_row, messages = await campaigns.send_to_subscriber(
            conn, sender_id=sender_id, email_id=email_id, subscriber_id=subscriber_id
        )
        await conn.commit()
    await publish(messages)


def test_a_subscriber_manages_preferences_with_javascript_off(
    public_url: str, browser: Browser, settings: Settings, smtp_peer: SmtpPeer,
    worker: WorkerProcess, sync_conn: psycopg.Connection[dict],
) -> None:  # fmt: skip
    db = sync_conn
    address = f"ayse-{uuid.uuid4().hex[:10]}@example.org"
    sender = db.execute(
        "INSERT INTO senders (address, name, public_base_url, return_path_domain)"
        " VALUES (%s, 'Tart Shop', %s, 'example.com') RETURNING id",
        (f"shop-{uuid.uuid4().hex[:8]}@example.com", public_url),
    ).fetchone()["id"]
    try:
        db.execute(
            "INSERT INTO sender_topics (sender_id, key, label_en, label_tr, position) VALUES"
            " (%s, 'news', 'News', 'Haberler', 1), (%s, 'offers', 'Offers', 'Fırsatlar', 2)",
            (sender, sender),
        )
        sub = db.execute(
            "INSERT INTO subscribers (sender_id, address, locale, properties)"
            " VALUES (%s, %s, 'tr_TR', %s) RETURNING id",
            (sender, address, Jsonb({"name": "Ayşe", "news": True, "offers": False})),
        ).fetchone()["id"]
        email = db.execute(
            "INSERT INTO emails (sender_id, name, bulk) VALUES (%s, 'Bülten', false) RETURNING id",
            (sender,),
        ).fetchone()["id"]
        db.execute(
            "INSERT INTO variations (email_id, subject, plain_body, html_body)"
            " VALUES (%s, 'Bülten', %s, %s)",
            (email, PLAIN, HTML),
        )
        # Playwright's sync API keeps an event loop in this thread: send from another one
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _send(settings.database_url, sender, email, sub)).result()

        def mail() -> str | None:
            for r in list(smtp_peer.received):
                if r.rcpt_tos == [address]:
                    return r.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            return None

        wait_until(lambda: mail() is not None, 60, "the message")
        body = mail() or ""
        prefs = re.search(r"Tercihler: (\S+/p/\S+)", body)
        assert prefs is not None, body
        link = prefs.group(1)

        # a link scanner fetches every URL of the message: nothing changes
        html = next(
            r.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
            for r in list(smtp_peer.received)
            if r.rcpt_tos == [address]
        )
        urls = set(re.findall(r'href="([^"]+)"', html)) | set(re.findall(r"(http\S+)", body))
        assert link in urls and len(urls) >= 3
        for url in urls:
            if url.startswith(public_url):
                httpx.get(url, follow_redirects=False, timeout=10)
                httpx.head(url, timeout=10)
        state = db.execute(
            "SELECT state::text, properties FROM subscribers WHERE id = %s", (sub,)
        ).fetchone()
        assert state == {
            "state": "active", "properties": {"name": "Ayşe", "news": True, "offers": False}
        }  # fmt: skip
        assert (
            db.execute(
                "SELECT count(*) AS n FROM consent_records WHERE sender_id = %s", (sender,)
            ).fetchone()["n"]
            == 0
        )

        context = browser.new_context(
            java_script_enabled=False, locale="tr-TR", viewport={"width": 800, "height": 1000}
        )
        try:
            page = context.new_page()
            page.goto(link)
            expect(page.locator("h1")).to_have_text("Aboneliğiniz")
            expect(page.locator("input[value='topic:news']")).to_be_checked()
            _shot(page, "01-preferences-tr")
            page.uncheck("input[value='topic:news']")
            page.check("input[value='topic:offers']")
            page.click("text=Tercihleri kaydet")
            expect(page.locator(".notice")).to_have_text("Tercihleriniz kaydedildi.")
            expect(page.locator("input[value='topic:offers']")).to_be_checked()
            _shot(page, "02-saved")
            page.click("text=Tüm e-postalardan çık")
            expect(page.locator(".notice")).to_be_visible()
            expect(page.locator("button", has_text="Yeniden abone ol")).to_be_visible()
            _shot(page, "03-unsubscribed")
            # the same page in English for an en_US subscriber (a send made here, not mailed)
            english = db.execute(
                "INSERT INTO subscribers (sender_id, address, locale, properties)"
                " VALUES (%s, %s, 'en_US', '{\"offers\": true}') RETURNING id",
                (sender, f"ada-{uuid.uuid4().hex[:10]}@example.org"),
            ).fetchone()["id"]
            send = db.execute(
                "INSERT INTO sends (email_id, sender_id, subscriber_id, state, sent_at)"
                " VALUES (%s, %s, %s, 'sent', now()) RETURNING id",
                (email, sender, english),
            ).fetchone()["id"]
            secrets = [x.get_secret_value() for x in settings.token_secrets]
            token = codec_from_settings_secrets(secrets).encode(send)
            page.goto(f"{public_url}/p/{token}")
            expect(page.locator("h1")).to_have_text("Your subscription")
            expect(page.locator("text=Offers")).to_be_visible()
            expect(page.locator("input[value='topic:offers']")).to_be_checked()
            _shot(page, "04-preferences-en")
        finally:
            context.close()
        after = db.execute(
            "SELECT state::text, properties FROM subscribers WHERE id = %s", (sub,)
        ).fetchone()
        assert after == {
            "state": "unsubscribed",
            "properties": {"name": "Ayşe", "news": False, "offers": True},
        }
        records = db.execute(
            "SELECT action, source, detail FROM consent_records WHERE sender_id = %s ORDER BY id",
            (sender,),
        ).fetchall()
        assert [(r["action"], r["source"]) for r in records] == [
            ("preference_change", "preferences"), ("unsubscribe", "preferences")
        ]  # fmt: skip
        assert records[0]["detail"] == {"topics": {"news": False, "offers": True}}
    finally:
        db.execute("DELETE FROM senders WHERE id = %s", (sender,))
