"""Admin single sign-on through headless Chromium against a small OpenID provider run in the test
(tests/fixtures/oidc_provider.py, built on Authlib): code flow with PKCE, roles from groups or the
email domain, refusals, and password login turned off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from pydantic import SecretStr

from services.admin import oidc
from shared.config import Settings
from tests.admin.conftest import admin_server
from tests.fixtures.browser import CHROMIUM_ARGS
from tests.fixtures.oidc_provider import Provider, run_provider

USERS: dict[str, dict[str, Any]] = {
    "ops@corp.example": {},
    "boss@elsewhere.example": {"groups": ["tart-owners"]},
    "stranger@other.example": {"groups": ["marketing"]},
    "unverified@corp.example": {"email_verified": False},
}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with run_provider(USERS) as p:
        yield p


@pytest.fixture(scope="module")
def sso_settings(settings: Settings, provider: Provider) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": provider.client_id,
            "oidc_client_secret": SecretStr(provider.client_secret),
            "oidc_allowed_domains": ["corp.example"],
            "oidc_owner_groups": ["tart-owners"],
            "admin_password_login": False,
        }
    )


@pytest.fixture(scope="module")
def admin_url(sso_settings: Settings) -> Iterator[str]:
    with admin_server(sso_settings) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def sso_login(browser: Browser, admin_url: str, email: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(f"{admin_url}/login")
    expect(page.locator("#f-password")).to_have_count(0)  # password login is off
    page.click("#sso-login")
    expect(page.locator("h1")).to_have_text("Test identity provider")
    page.fill("#idp-email", email)
    page.click("#idp-approve")
    return page


def role_of(conn: psycopg.Connection[dict], email: str) -> str | None:
    row = conn.execute("SELECT role FROM admin_users WHERE email = %s", (email,)).fetchone()
    return row["role"] if row else None


def test_sso_login_through_chromium_maps_domain_and_groups(
    browser: Browser, admin_url: str, provider: Provider, sync_conn: psycopg.Connection[dict]
) -> None:
    page = sso_login(browser, admin_url, "ops@corp.example")
    expect(page.locator("h1")).to_have_text("Dashboard")
    assert role_of(sync_conn, "ops@corp.example") == "member"  # allowed domain
    expect(page.locator("nav a[href='/users']")).to_have_count(0)
    # The client used the code flow with PKCE S256 and a nonce; the provider checked the verifier.
    authorize = [s["authorize"] for s in provider.seen if "authorize" in s][-1]
    assert authorize["response_type"] == "code" and authorize["code_challenge_method"] == "S256"
    assert authorize["nonce"] and authorize["state"]
    # Authlib's server required the S256 challenge and checked the verifier before answering.
    token = [s["token"] for s in provider.seen if "token" in s][-1]
    assert token == {"status": 200, "error": None}

    page = sso_login(browser, admin_url, "boss@elsewhere.example")
    expect(page.locator("h1")).to_have_text("Dashboard")
    assert role_of(sync_conn, "boss@elsewhere.example") == "owner"  # owner group
    page.goto(f"{admin_url}/users")
    expect(page.locator("h1")).to_have_text("Admin users")


def test_sso_refuses_other_domains_and_unverified_addresses(
    browser: Browser, admin_url: str, sync_conn: psycopg.Connection[dict]
) -> None:
    for email in ("stranger@other.example", "unverified@corp.example"):
        page = sso_login(browser, admin_url, email)
        expect(page.locator("body")).to_contain_text("may not use this admin")
        assert role_of(sync_conn, email) is None


def test_password_login_is_refused_when_turned_off(
    admin_url: str, sync_conn: psycopg.Connection[dict]
) -> None:
    from shared.admins.repository import password_hasher

    sync_conn.execute(
        "INSERT INTO admin_users (email, password_hash, role) VALUES (%s, %s, 'owner')"
        " ON CONFLICT (email) DO NOTHING",
        ("pw-owner@corp.example", password_hasher.hash("correct horse battery staple")),
    )
    with httpx.Client(base_url=admin_url) as client:
        page = client.get("/login")
        assert page.status_code == 200 and 'id="f-password"' not in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
        response = client.post(
            "/login",
            data={"email": "pw-owner@corp.example", "password": "correct horse battery staple",
                  "csrf_token": csrf.group(1) if csrf else ""},
        )  # fmt: skip
        assert response.status_code == 403
        assert "password login is turned off" in response.text
        assert "set-cookie" not in response.headers or "tart_session" not in str(
            response.headers.get_list("set-cookie")
        )


def test_a_forged_or_replayed_callback_is_refused(
    admin_url: str, browser: Browser, provider: Provider
) -> None:
    with httpx.Client(base_url=admin_url) as client:
        # No state cookie: somebody else's code and state.
        response = client.get("/login/sso/callback", params={"code": "x", "state": "y"})
        assert response.status_code == 403
        # A real start, then a callback whose state does not match the sealed one.
        start = client.get("/login/sso")
        assert start.status_code == 303 and start.headers["location"].startswith(provider.issuer)
        assert oidc.STATE_COOKIE in client.cookies
        response = client.get("/login/sso/callback", params={"code": "x", "state": "forged"})
        assert response.status_code == 403 and "expired or came from elsewhere" in response.text
        # The provider reports an error instead of a code.
        response = client.get("/login/sso/callback", params={"error": "access_denied"})
        assert response.status_code == 403
