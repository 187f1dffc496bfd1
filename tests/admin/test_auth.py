"""Login, sessions, CSRF, throttling, TOTP and roles, through httpx against the ASGI app."""

from __future__ import annotations

import hashlib

import httpx
import psycopg
import pyotp
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from services.admin.app import create_app
from shared.admins import repository as admins
from shared.config import Settings
from tests.admin.conftest import (
    AdminClient,
    csrf_of,
    log_in,
    make_admin,
    make_sender,
    new_client,
)


async def test_pages_need_a_session(admin_app: FastAPI) -> None:
    async with new_client(admin_app) as client:
        response = await client.get("/senders")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fsenders"


async def test_login_sets_a_new_hashed_session_and_logout_ends_it(
    admin_app: FastAPI, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    email = await make_admin(pool)
    response = await log_in(admin_app, email)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "tart_admin=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    client = response.extensions["client"]
    session_id = client.cookies["tart_admin"]
    stored = sync_conn.execute(
        "SELECT s.id_hash FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id "
        "WHERE u.email = %s",
        [email],
    ).fetchall()
    # only the hash is stored, never the cookie value
    assert [r["id_hash"] for r in stored] == [hashlib.sha256(session_id.encode()).digest()]
    page = await client.get("/")
    assert page.status_code == 200 and email in page.text
    out = await client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    client.cookies.set(
        "tart_admin", session_id, domain="admin.test"
    )  # replaying the old cookie does not work
    assert (await client.get("/")).status_code == 303
    await client.aclose()


async def test_a_planted_session_id_is_replaced_at_login(
    admin_app: FastAPI, pool: AsyncConnectionPool
) -> None:
    email = await make_admin(pool)
    client = new_client(admin_app)
    client.cookies.set("tart_admin", "attacker-chosen-value", domain="admin.test")
    page = await client.get("/login")
    response = await client.post(
        "/login", data={"email": email, "password": "correct horse battery staple",
                        "csrf_token": csrf_of(page.text)},
    )  # fmt: skip
    assert response.status_code == 303
    assert client.cookies["tart_admin"] != "attacker-chosen-value"
    await client.aclose()


async def test_wrong_password_is_an_inline_error(
    admin_app: FastAPI, pool: AsyncConnectionPool
) -> None:
    email = await make_admin(pool)
    response = await log_in(admin_app, email, "wrong password")
    assert response.status_code == 400
    assert "Wrong address or password." in response.text
    assert "set-cookie" not in response.headers or "tart_admin=" not in response.headers.get(
        "set-cookie", ""
    )


async def test_login_without_its_csrf_token_is_rejected(
    admin_app: FastAPI, pool: AsyncConnectionPool
) -> None:
    email = await make_admin(pool)
    async with new_client(admin_app) as client:
        response = await client.post(
            "/login", data={"email": email, "password": "correct horse battery staple"}
        )
    assert response.status_code == 403


async def test_login_is_throttled_after_repeated_failures(
    admin_app: FastAPI, pool: AsyncConnectionPool
) -> None:
    email = await make_admin(pool)
    limit = admin_app.state.settings.admin_login_max_failures
    for _ in range(limit):
        assert (await log_in(admin_app, email, "nope")).status_code == 400
    # even the right password is refused while throttled
    response = await log_in(admin_app, email)
    assert response.status_code == 429
    assert "Too many failed logins" in response.text


async def test_open_redirect_after_login_is_refused(
    admin_app: FastAPI, pool: AsyncConnectionPool
) -> None:
    email = await make_admin(pool)
    async with new_client(admin_app) as client:
        page = await client.get("/login?next=//evil.example/x")
        response = await client.post(
            "/login",
            data={"email": email, "password": "correct horse battery staple",
                  "csrf_token": csrf_of(page.text), "next": "//evil.example/x"},
        )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_totp_is_required_once_enabled(admin_app: FastAPI, pool: AsyncConnectionPool) -> None:
    email = await make_admin(pool)
    secret = pyotp.random_base32()
    async with pool.connection() as conn:
        user = await admins.find_user_by_email(conn, email)
        assert user is not None
        await admins.set_totp_secret(conn, user["id"], secret)
    first = await log_in(admin_app, email)
    assert first.status_code == 400 and "6-digit code" in first.text
    client = new_client(admin_app)
    page = await client.get("/login")
    base = {"email": email, "password": "correct horse battery staple",
            "csrf_token": csrf_of(page.text)}  # fmt: skip
    wrong = await client.post("/login", data={**base, "code": "000000"})
    assert wrong.status_code == 400 and "Wrong code." in wrong.text
    right = await client.post(
        "/login", data={**base, "csrf_token": csrf_of(wrong.text), "code": pyotp.TOTP(secret).now()}
    )
    assert right.status_code == 303
    await client.aclose()


async def test_enable_totp_from_the_account_page(owner: AdminClient) -> None:
    page = await owner.client.get("/account")
    secret = page.text.split('name="secret" value="')[1].split('"')[0]
    bad = await owner.post("/account/totp", {"action": "enable", "secret": secret, "code": "1"})
    assert bad.status_code == 400 and "Wrong code" in bad.text
    ok = await owner.post(
        "/account/totp", {"action": "enable", "secret": secret, "code": pyotp.TOTP(secret).now()}
    )
    assert ok.status_code == 303
    assert "is <strong>on</strong>" in (await owner.client.get("/account")).text


async def test_post_without_csrf_is_403_and_changes_nothing(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    sender_id = await make_sender(pool)
    response = await owner.client.post(f"/senders/{sender_id}/keys", data={"key_name": "no csrf"})
    assert response.status_code == 403
    wrong = await owner.client.post(
        f"/senders/{sender_id}/keys", data={"key_name": "x", "csrf_token": "forged"}
    )
    assert wrong.status_code == 403
    keys = sync_conn.execute("SELECT count(*) AS n FROM api_keys WHERE sender_id = %s",
                             [sender_id]).fetchone()  # fmt: skip
    assert keys is not None and keys["n"] == 0


async def test_member_sees_only_its_senders(member: AdminClient, pool: AsyncConnectionPool) -> None:
    mine = await make_sender(pool)
    other = await make_sender(pool)
    async with pool.connection() as conn:
        await admins.set_user_senders(conn, member.user_id, [mine])
    assert (await member.client.get(f"/senders/{mine}")).status_code == 200
    for path in ("", "/subscribers", "/emails", "/statistics", "/bounces"):
        response = await member.client.get(f"/senders/{other}{path}")
        assert response.status_code == 404, path
    listing = await member.client.get("/senders")
    assert f"/senders/{mine}" in listing.text and f"/senders/{other}" not in listing.text
    # owner-only pages are hidden from members too
    assert (await member.client.get("/senders/new")).status_code == 404
    assert (await member.post(f"/senders/{other}/keys", {"key_name": "x"})).status_code == 404


async def test_security_headers(owner: AdminClient) -> None:
    response = await owner.client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_cookies_are_secure_host_prefixed_outside_dev(
    settings: Settings, pool: AsyncConnectionPool
) -> None:
    secure = settings.model_copy(update={"admin_cookie_secure": True})
    app = create_app(secure)
    async with app.router.lifespan_context(app):
        await app.state.pool.wait(timeout=10)
        email = await make_admin(pool)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://admin.test"
        ) as client:
            page = await client.get("/login")
            assert "__Host-tart_login=" in page.headers["set-cookie"]
            response = await client.post(
                "/login",
                data={"email": email, "password": "correct horse battery staple",
                      "csrf_token": csrf_of(page.text)},
            )  # fmt: skip
    assert response.status_code == 303
    cookie = response.headers.get_list("set-cookie")
    session = next(c for c in cookie if c.startswith("__Host-tart_admin="))
    assert "Secure" in session and "HttpOnly" in session and "Path=/" in session
    assert "Domain" not in session
