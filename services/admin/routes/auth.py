"""Login (password, optional TOTP, throttled), logout, and the account page (TOTP, password)."""

from __future__ import annotations

import secrets

import pyotp
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.forms import read_form
from services.admin.sessions import (
    CsrfRejected,
    CurrentAdmin,
    Tx,
    clear_session_cookie,
    login_csrf_cookie_name,
    safe_next,
    session_cookie_name,
    set_login_csrf,
    set_session_cookie,
    settings_of,
    tokens_match,
)
from services.admin.templating import render
from shared.admins import repository as admins
from shared.errors import Forbidden

router = APIRouter()
# Verified when the address is unknown, so a wrong address costs as much time as a wrong password.
_DUMMY_HASH = admins.password_hasher.hash("not a real password")
MIN_PASSWORD = 12


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _login_page(
    request: Request,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
    need_code: bool = False,
) -> Response:
    token = secrets.token_urlsafe(24)
    response = await render(
        request,
        "login.html",
        {
            "values": values,
            "errors": errors,
            "need_code": need_code,
            "next": safe_next(values.get("next")),
            "csrf_token": token,
            "sso": bool(settings_of(request).oidc_issuer),
            "password_login": settings_of(request).admin_password_login,
        },
        status_code=status_code,
    )
    set_login_csrf(response, settings_of(request), token)
    return response


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    return await _login_page(request, values={"next": next}, errors={})


@router.post("/login")
async def login(request: Request, tx: Tx) -> Response:
    settings = settings_of(request)
    if not settings.admin_password_login:
        raise Forbidden("password login is turned off: sign in with single sign-on")
    form = await read_form(request)
    if not tokens_match(
        request.cookies.get(login_csrf_cookie_name(settings)), form.data.get("csrf_token")
    ):
        raise CsrfRejected("the login form expired; reload the page")
    email = form.text("email", max_len=254).lower()
    password = form.data.get("password")
    password = password if isinstance(password, str) else ""
    code = form.text("code", max_len=10).replace(" ", "")
    form.text("next", max_len=2000)
    values = {"email": email, "next": form.values["next"]}
    ip = _client_ip(request)
    failures = await admins.recent_failures(
        tx.conn, ip=ip, email=email, window_s=settings.admin_login_window_s
    )
    if (
        failures["by_email"] >= settings.admin_login_max_failures
        or failures["by_ip"] >= settings.admin_login_max_failures_ip
    ):
        await admins.record_login_attempt(tx.conn, ip=ip, email=email, succeeded=False)
        minutes = max(1, settings.admin_login_window_s // 60)
        errors = {"form": f"Too many failed logins. Try again in {minutes} minutes."}
        throttled = True
    else:
        throttled = False
        user = await admins.find_user_by_email(tx.conn, email) if email else None
        password_ok = admins.verify_password(
            user["password_hash"] if user else _DUMMY_HASH, password
        )
        errors = {}
        need_code = False
        if user is None or not password_ok:
            errors = {"form": "Wrong address or password."}
        elif user["totp_secret"] and not code:
            need_code = True
            errors = {"code": "Enter the 6-digit code from your authenticator app."}
        elif user["totp_secret"] and not pyotp.TOTP(user["totp_secret"]).verify(
            code, valid_window=1
        ):
            need_code = True
            errors = {"code": "Wrong code."}
        if not need_code or code:
            await admins.record_login_attempt(tx.conn, ip=ip, email=email, succeeded=not errors)
        if not errors and user is not None:
            await admins.mark_login(tx.conn, user["id"])
            session_id, _csrf = await admins.create_session(
                tx.conn, user["id"], settings.admin_session_hours * 3600
            )
    if throttled:
        return await _login_page(request, values=values, errors=errors, status_code=429)
    if errors:
        return await _login_page(
            request, values=values, errors=errors, status_code=400, need_code=need_code
        )
    response = RedirectResponse(safe_next(values["next"]), status_code=303)
    set_session_cookie(response, settings, session_id)
    response.delete_cookie(login_csrf_cookie_name(settings), path="/")
    return response


@router.post("/logout")
async def logout(request: Request, admin: CurrentAdmin, tx: Tx) -> Response:
    settings = settings_of(request)
    session_id = request.cookies.get(session_cookie_name(settings), "")
    await admins.delete_session(tx.conn, session_id)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, settings)
    return response


@router.get("/account")
async def account(request: Request, admin: CurrentAdmin) -> Response:
    secret = pyotp.random_base32()
    return await _account_page(request, admin, secret=secret, errors={})


async def _account_page(
    request: Request, admin: CurrentAdmin, *, secret: str, errors: dict[str, str], status: int = 200
) -> Response:
    uri = pyotp.TOTP(secret).provisioning_uri(name=admin.email, issuer_name="tart-mailer")
    return await render(
        request,
        "account.html",
        {"secret": secret, "otpauth_uri": uri, "errors": errors},
        status_code=status,
    )


@router.post("/account/totp")
async def totp(request: Request, admin: CurrentAdmin, tx: Tx) -> Response:
    form = await read_form(request)
    action = form.choice("action", ("enable", "disable"))
    secret = form.text("secret", max_len=64)
    code = form.text("code", max_len=10).replace(" ", "")
    if action == "disable":
        await admins.set_totp_secret(tx.conn, admin.id, None)
        return RedirectResponse("/account?notice=totp_off", status_code=303)
    try:
        valid = bool(secret) and pyotp.TOTP(secret).verify(code, valid_window=1)
    except (ValueError, TypeError):  # a tampered secret that is not base32
        valid = False
    if not valid:
        return await _account_page(
            request,
            admin,
            secret=secret or pyotp.random_base32(),
            errors={"code": "Wrong code: check the clock of your device and try again."},
            status=400,
        )
    await admins.set_totp_secret(tx.conn, admin.id, secret)
    return RedirectResponse("/account?notice=totp_on", status_code=303)


@router.post("/account/password")
async def change_password(request: Request, admin: CurrentAdmin, tx: Tx) -> Response:
    form = await read_form(request)
    current = form.data.get("current")
    new = form.data.get("new")
    current = current if isinstance(current, str) else ""
    new = new if isinstance(new, str) else ""
    errors: dict[str, str] = {}
    user = await admins.find_user_by_email(tx.conn, admin.email)
    if user is None or not admins.verify_password(user["password_hash"], current):
        errors["current"] = "wrong password"
    elif len(new) < MIN_PASSWORD or len(new) > 1000:
        errors["new"] = f"use {MIN_PASSWORD} to 1000 characters"
    else:
        await admins.set_password(tx.conn, admin.id, new)
        await admins.delete_user_sessions(tx.conn, admin.id)
    if errors:
        return await _account_page(
            request, admin, secret=pyotp.random_base32(), errors=errors, status=400
        )
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, settings_of(request))
    return response
