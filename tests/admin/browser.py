"""What the admin's Chromium tests share besides the ``admin_url`` fixture (conftest.py): an
admin user written straight to the database, and logging in through the login page."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from playwright.sync_api import Page, expect

from shared.admins.repository import password_hasher
from tests.admin.conftest import PASSWORD


def admin_user(conn: psycopg.Connection[Any], role: str = "owner") -> tuple[int, str]:
    """A new admin of ``role`` (its id and email), whose password is ``PASSWORD``."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    row = conn.execute(
        "INSERT INTO admin_users (email, password_hash, role) VALUES (%s, %s, %s) RETURNING id",
        [email, password_hasher.hash(PASSWORD), role],
    ).fetchone()
    assert row is not None
    return row["id"], email


def log_in(page: Page, admin_url: str, email: str) -> None:
    page.goto(f"{admin_url}/login")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Dashboard")
