"""Admin single sign-on (OpenID Connect, services/admin/oidc.py): ``/login/sso`` sends the browser
to the identity provider, ``/login/sso/callback`` takes it back and opens a session.

The callback is a GET because that is how the authorization code comes back (RFC 6749 4.1.2); it
changes something (a session, the user's role) only with a code the provider issued for the state
in this browser's sealed cookie, redeemed with the PKCE verifier only this admin holds."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin import oidc
from services.admin.sessions import Tx, cookie_secure, safe_next, set_session_cookie, settings_of
from shared.admins import repository as admins
from shared.errors import NotFound
from shared.logging import get_logger

router = APIRouter(prefix="/login/sso")
log = get_logger(__name__)


def _redirect_uri(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/login/sso/callback"


@router.get("")
async def sso_start(request: Request, next: str = "/") -> Response:
    settings = settings_of(request)
    if not settings.oidc_issuer:
        raise NotFound("single sign-on is not configured")
    url, cookie = await oidc.start(settings, _redirect_uri(request), safe_next(next))
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        oidc.STATE_COOKIE, cookie, max_age=oidc.STATE_TTL_S, path="/login/sso",
        secure=cookie_secure(settings), httponly=True, samesite="lax",
    )  # fmt: skip
    return response


@router.get("/callback")
async def sso_callback(
    request: Request, tx: Tx, code: str = "", state: str = "", error: str = ""
) -> Response:
    settings = settings_of(request)
    if not settings.oidc_issuer:
        raise NotFound("single sign-on is not configured")
    if error or not code or not state:
        raise oidc.SsoRefused(
            f"the identity provider did not sign you in ({error[:100] or 'no code'})"
        )
    claims, next_page = await oidc.finish(
        settings, _redirect_uri(request), code=code[:2000], state=state[:200],
        cookie=request.cookies.get(oidc.STATE_COOKIE),
    )  # fmt: skip
    role = oidc.role_for(claims, settings)
    if role is None:
        log.warning("sso login refused", subject=str(claims.get("sub"))[:200])
        raise oidc.SsoRefused("this account may not use this admin (domain or group)")
    user = await admins.sso_user(tx.conn, str(claims["email"]), role)
    await admins.mark_login(tx.conn, user["id"])
    session_id, _csrf = await admins.create_session(
        tx.conn, user["id"], settings.admin_session_hours * 3600
    )
    log.info("sso login", user_id=user["id"], role=role, created=user["created"])
    response = RedirectResponse(safe_next(next_page), status_code=303)
    set_session_cookie(response, settings, session_id)
    response.delete_cookie(oidc.STATE_COOKIE, path="/login/sso")
    return response
