# ruff: noqa: RUF001 - Turkish text
"""A new visitor joins in headless Debian Chromium (Playwright) with JavaScript off: the hosted
form in Turkish, the thank-you page, the confirmation mail from the real sender worker, the
confirmation page (opening it changes nothing), the button, the welcome email, a link scanner
fetching every URL of both mails (nothing changes), then the preference center from the welcome
email: a topic changed, unsubscribed. Every step leaves a consent record. Screenshots go to
test-artifacts/forms/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from services.public.app import create_app
from shared.config import Settings
from tests.fixtures.browser import ARTIFACTS as BROWSER_ARTIFACTS
from tests.fixtures.browser import chromium, screenshot, serve, wait_until
from tests.fixtures.smtp import SmtpPeer
from tests.public.forms_world import address, drop_shop, make_shop
from tests.sender.conftest import WorkerProcess, worker_env

ARTIFACTS = BROWSER_ARTIFACTS / "forms"


@pytest.fixture(scope="module")
def public_url(settings: Settings) -> Iterator[str]:
    """The public app under uvicorn in a thread; a 1 s minimum time to submit."""
    with serve(create_app(settings.model_copy(update={"form_min_submit_seconds": 1.0}))) as url:
        yield url


@pytest.fixture(scope="module")
def worker(smtp_peer_session: SmtpPeer) -> Iterator[WorkerProcess]:
    """A sender worker (dramatiq) sending to the aiosmtpd peer."""
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


def test_a_visitor_joins_with_javascript_off(
    public_url: str,
    browser: Browser,
    settings: Settings,
    smtp_peer: SmtpPeer,
    worker: WorkerProcess,
) -> None:
    shop = make_shop(settings)
    shop.db.execute(
        "UPDATE senders SET public_base_url = %s WHERE id = %s", [public_url, shop.sender_id]
    )
    email = address()

    def mails(subject_start: str) -> list[str]:
        return [
            r.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            for r in list(smtp_peer.received)
            if r.rcpt_tos == [email] and str(r.message["Subject"]).startswith(subject_start)
        ]

    context = browser.new_context(
        java_script_enabled=False, locale="tr-TR", viewport={"width": 800, "height": 900}
    )
    try:
        page = context.new_page()
        page.goto(f"{public_url}/f/{shop.form_id}")
        expect(page.locator("h1")).to_have_text("Tart Shop listesine abone olun")
        _shot(page, "01-form-tr")
        page.fill("input[name=email]", email)
        page.fill("input[name=first_name]", "Ayşe")
        page.check("input[value=news]")
        page.wait_for_timeout(1200)  # a person takes longer than the minimum time
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Teşekkürler")
        _shot(page, "02-thank-you-tr")
        row = shop.subscriber(email)
        assert row is not None and row["state"] == "pending"
        assert row["properties"] == {"first_name": "Ayşe", "news": True, "offers": False}

        wait_until(lambda: bool(mails("Lütfen")), 60, "confirmation mail")
        link = re.search(r"(http://127\.0\.0\.1:\d+/confirm/[A-Za-z0-9_-]+)", mails("Lütfen")[0])
        assert link is not None
        page.goto(link.group(1))
        expect(page.locator("button")).to_have_text("Aboneliğimi onayla")
        _shot(page, "03-confirm-page")
        still = shop.subscriber(email)
        assert still is not None and still["state"] == "pending"  # opening the link is not consent
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Abonelik onaylandı")
        _shot(page, "04-confirmed")
        done = shop.subscriber(email)
        assert done is not None and done["state"] == "active"
        wait_until(lambda: bool(mails("Welcome Ayşe")), 60, "welcome email")

        # a link scanner fetches every URL of both mails: nothing changes
        urls = set()
        for text in (*mails("Lütfen"), *mails("Welcome Ayşe")):
            urls |= set(re.findall(r"(http://127\.0\.0\.1:\d+/\S+)", text))
        assert len(urls) >= 3, urls
        for url in urls:
            httpx.get(url, follow_redirects=False, timeout=10)
            httpx.head(url, timeout=10)
        same = shop.subscriber(email)
        assert same == done

        preferences = re.search(r"Preferences: (\S+)", mails("Welcome Ayşe")[0])
        assert preferences is not None
        page.goto(preferences.group(1))
        expect(page.locator("input[value='topic:news']")).to_be_checked()
        _shot(page, "05-preferences")
        page.uncheck("input[value='topic:news']")
        page.check("input[value='topic:offers']")
        page.click("text=Tercihleri kaydet")
        expect(page.locator(".notice")).to_have_text("Tercihleriniz kaydedildi.")
        page.click("text=Tüm e-postalardan çık")
        expect(page.locator("button", has_text="Yeniden abone ol")).to_be_visible()
        _shot(page, "06-unsubscribed")
        after = shop.subscriber(email)
        assert after is not None and after["state"] == "unsubscribed"
        assert after["properties"] == {"first_name": "Ayşe", "news": False, "offers": True}
        actions = shop.db.execute(
            "SELECT action FROM consent_records WHERE subscriber_id = %s ORDER BY id",
            [after["id"]],
        ).fetchall()
        assert [a["action"] for a in actions] == [
            "subscribe", "confirm", "preference_change", "unsubscribe"
        ]  # fmt: skip
    finally:
        context.close()
        drop_shop(shop)
