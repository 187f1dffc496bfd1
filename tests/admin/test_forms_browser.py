"""The admin's form pages in headless Debian Chromium: declare a topic, create a form, see its
snippet and copy it with the button, open the hosted page from the preview link. Screenshots go
to test-artifacts/admin-forms/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.admin.browser import admin_user, log_in
from tests.fixtures import browser as browsers

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "admin-forms"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browsers.chromium(ARTIFACTS) as b:
        yield b


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_an_operator_creates_a_form_and_copies_its_snippet(
    admin_url: str, chromium: Browser, sync_conn: psycopg.Connection[dict[str, Any]]
) -> None:
    tag = uuid.uuid4().hex[:8]
    _, email = admin_user(sync_conn)
    sender = sync_conn.execute(
        "INSERT INTO senders (address, name, public_base_url, return_path_domain) "
        "VALUES (%s, 'Shop', 'https://links.example.com', 'example.com') RETURNING id",
        [f"shop-{tag}@example.com"],
    ).fetchone()
    assert sender is not None
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        log_in(page, admin_url, email)
        page.goto(f"{admin_url}/senders/{sender['id']}")
        page.click("nav.sendernav >> text=Forms")
        expect(page.locator("h1")).to_have_text("Subscription forms")
        page.fill("#f-key", "news")
        page.fill("#f-label_en", "News")
        page.fill("#f-label_tr", "Haberler")
        page.click("text=Add or relabel topic")
        expect(page.locator("table")).to_contain_text("Haberler")
        page.click("text=New form")
        page.fill("#f-name", "Newsletter")
        page.fill("#f-fields", "first_name")
        page.check("input[name=topics][value=news]")
        page.fill("#f-allowed_origins", "https://www.example.com")
        page.click("button.primary")
        expect(page.locator(".notice")).to_have_text("Created.")
        snippet = page.locator("#snippet").input_value()
        assert 'name="first_name"' in snippet and 'value="news"' in snippet
        _shot(page, "01-form")
        page.click("button[data-copy]")
        expect(page.locator("button[data-copy]")).to_have_text("Copied")
        form_id = page.url.split("?")[0].rsplit("/", 1)[1]
        row = sync_conn.execute(
            "SELECT name, fields, topics, double_opt_in, allowed_origins FROM forms WHERE id = %s",
            [form_id],
        ).fetchone()
        assert row == {
            "name": "Newsletter", "fields": ["first_name"], "topics": ["news"],
            "double_opt_in": True, "allowed_origins": ["https://www.example.com"],
        }  # fmt: skip
    finally:
        context.close()
        sync_conn.execute("DELETE FROM senders WHERE id = %s", [sender["id"]])
