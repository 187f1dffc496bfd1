"""The admin's segment list in headless Debian Chromium: it shows no counts by itself, and the
Count button of one row puts that segment's live count in its place (htmx), leaving the other
rows uncounted. Screenshots go to test-artifacts/admin-segments/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, expect

from services.admin.app import create_app
from shared.admins.repository import password_hasher
from shared.config import Settings
from tests.fixtures import browser as browsers
from tests.fixtures.browser import serve

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "admin-segments"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def admin_url(settings: Settings) -> Iterator[str]:
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browsers.chromium(ARTIFACTS) as b:
        yield b


def test_a_segment_is_counted_when_its_count_button_is_pressed(
    admin_url: str, chromium: Browser, sync_conn: psycopg.Connection[dict[str, Any]]
) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"owner-{tag}@example.com"
    sync_conn.execute(
        "INSERT INTO admin_users (email, password_hash, role) VALUES (%s, %s, 'owner')",
        [email, password_hasher.hash(PASSWORD)],
    )
    sender = sync_conn.execute(
        "INSERT INTO senders (address, name, public_base_url, return_path_domain) "
        "VALUES (%s, 'Shop', 'https://links.example.com', 'example.com') RETURNING id",
        [f"shop-{tag}@example.com"],
    ).fetchone()
    assert sender is not None
    sync_conn.execute(
        "INSERT INTO subscribers (sender_id, address, properties) SELECT %s,"
        " 'p' || g || '@example.com', jsonb_build_object('plan', CASE WHEN g <= 2 THEN 'pro'"
        " ELSE 'free' END) FROM generate_series(1, 5) g",
        [sender["id"]],
    )
    sync_conn.execute(
        "INSERT INTO segments (sender_id, name, filter) VALUES"
        ' (%(s)s, \'pro\', \'{"eq": ["plan", "pro"]}\'),'
        ' (%(s)s, \'free\', \'{"eq": ["plan", "free"]}\')',
        {"s": sender["id"]},
    )
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{admin_url}/login")
        page.fill("#f-email", email)
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Dashboard")
        page.goto(f"{admin_url}/senders/{sender['id']}/segments")
        expect(page.locator("h1")).to_have_text("Segments")
        pro = page.locator("tr", has_text="plan").filter(has_text="pro")
        free = page.locator("tr", has_text="plan").filter(has_text="free")
        expect(page.locator(".segment-count")).to_have_count(0)
        pro.get_by_role("link", name="Count").click()
        expect(pro.locator(".segment-count")).to_have_text("2")
        expect(page).to_have_url(f"{admin_url}/senders/{sender['id']}/segments")
        expect(free.get_by_role("link", name="Count")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "01-segments.png"), full_page=True)
        free.get_by_role("link", name="Count").click()
        expect(free.locator(".segment-count")).to_have_text("3")
    finally:
        context.close()
        sync_conn.execute("DELETE FROM senders WHERE id = %s", [sender["id"]])
