"""Single sign-on for the admin with OpenID Connect: the authorization code flow with PKCE
(S256), the issuer's discovery document, and the ID token checked against the issuer's keys.

Authlib's OAuth 2 client builds the authorization URL (state, nonce, code challenge) and redeems
the code with the verifier; joserfc (Authlib's JOSE library) verifies the ID token's signature
and claims (iss, aud, exp, iat, nonce). What the login needs between the redirect out and the
callback (state, nonce, verifier, the page asked for) rides in a short-lived cookie signed with
the session secret, so no server-side row is written before the user is known.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from shared.config import Settings
from shared.errors import AppError

STATE_COOKIE = "tart_oidc"
STATE_TTL_S = 600
DISCOVERY_TTL_S = 3600
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


class SsoRefused(AppError):
    """The single sign-on did not succeed or the account may not use this admin."""

    status_code, error_type = 403, "Forbidden"


@dataclass(frozen=True)
class Provider:
    """The parts of the issuer's discovery document the login uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


_providers: dict[str, tuple[float, Provider]] = {}
_keys: dict[str, KeySet] = {}


class ProviderUnavailable(AppError):
    """The identity provider could not be reached or answered nonsense: try again later."""

    status_code, error_type = 503, "ServiceUnavailable"


async def _get_json(url: str) -> Any:
    try:
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise ProviderUnavailable(f"the identity provider answered {response.status_code}")
        return response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise ProviderUnavailable(f"the identity provider could not be read: {error}") from None


async def discover(issuer: str) -> Provider:
    """The issuer's endpoints from ``<issuer>/.well-known/openid-configuration`` (cached an
    hour); the document must name the same issuer (OpenID Connect Discovery, section 4.3)."""
    cached = _providers.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    doc = await _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if not isinstance(doc, dict) or doc.get("issuer") != issuer:
        raise SsoRefused("the discovery document names another issuer")
    try:
        provider = Provider(
            issuer, doc["authorization_endpoint"], doc["token_endpoint"], doc["jwks_uri"]
        )
    except KeyError as error:
        raise SsoRefused(f"the discovery document lacks {error}") from error
    _providers[issuer] = (time.monotonic() + DISCOVERY_TTL_S, provider)
    return provider


async def _keyset(jwks_uri: str, *, refresh: bool = False) -> KeySet:
    if refresh or jwks_uri not in _keys:
        try:
            _keys[jwks_uri] = KeySet.import_key_set(await _get_json(jwks_uri))
        except (ValueError, TypeError, KeyError, JoseError) as error:
            raise ProviderUnavailable(
                f"the identity provider's keys are unusable: {error}"
            ) from None
    return _keys[jwks_uri]


# The state cookie ---------------------------------------------------------------------------


def _mac(secret: str, data: bytes) -> str:
    key = hashlib.sha256(b"tart-oidc-state\0" + secret.encode()).digest()
    return base64.urlsafe_b64encode(hmac.digest(key, data, "sha256")).decode().rstrip("=")


def seal(secret: str, payload: dict[str, Any]) -> str:
    data = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"{data}.{_mac(secret, data.encode())}"


def unseal(secret: str, value: str | None) -> dict[str, Any] | None:
    """The payload of a cookie this admin sealed and that has not expired, else None."""
    data, _, mac = (value or "").partition(".")
    if not data or not hmac.compare_digest(mac, _mac(secret, data.encode())):
        return None
    payload = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    if not isinstance(payload, dict) or payload.get("exp", 0) < time.time():
        return None
    return payload


# The flow -----------------------------------------------------------------------------------


def _client(settings: Settings, redirect_uri: str) -> AsyncOAuth2Client:
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=secret,
        scope=settings.oidc_scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        timeout=10.0,
    )


async def start(settings: Settings, redirect_uri: str, next_page: str) -> tuple[str, str]:
    """Where to send the browser, and the sealed state cookie to set for the callback."""
    assert settings.oidc_issuer
    provider = await discover(settings.oidc_issuer)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    async with _client(settings, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            provider.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
        )
    cookie = seal(
        settings.session_secret.get_secret_value(),
        {"state": state, "nonce": nonce, "verifier": verifier, "next": next_page,
         "exp": int(time.time()) + STATE_TTL_S},
    )  # fmt: skip
    return url, cookie


async def finish(
    settings: Settings, redirect_uri: str, *, code: str, state: str, cookie: str | None
) -> tuple[dict[str, Any], str]:
    """Redeem the code and verify the ID token. Returns (its claims, the page asked for)."""
    assert settings.oidc_issuer and settings.oidc_client_id
    sealed = unseal(settings.session_secret.get_secret_value(), cookie)
    if sealed is None or not hmac.compare_digest(str(sealed["state"]), state):
        raise SsoRefused("the sign-in expired or came from elsewhere; start it again")
    provider = await discover(settings.oidc_issuer)
    async with _client(settings, redirect_uri) as client:
        try:
            token = await client.fetch_token(
                provider.token_endpoint, code=code, code_verifier=sealed["verifier"]
            )
        except Exception as error:  # the provider's refusal, as Authlib reports it
            raise SsoRefused(f"the identity provider refused the code: {error}") from error
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoRefused("the identity provider sent no ID token")
    claims = await verify_id_token(
        provider, id_token, client_id=settings.oidc_client_id, nonce=sealed["nonce"]
    )
    return claims, str(sealed.get("next") or "/")


async def verify_id_token(
    provider: Provider, id_token: str, *, client_id: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims, once its signature (the issuer's keys, fetched again once for an
    unknown key id) and its iss, aud, exp, iat and nonce are right."""
    try:
        try:
            decoded = jwt.decode(id_token, await _keyset(provider.jwks_uri), ALGORITHMS)
        except (ValueError, JoseError):
            keys = await _keyset(provider.jwks_uri, refresh=True)  # the issuer rotated its keys
            decoded = jwt.decode(id_token, keys, ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
    except (ValueError, JoseError) as error:
        raise SsoRefused(f"the ID token does not verify: {error}") from error
    return dict(decoded.claims)


def role_for(claims: dict[str, Any], settings: Settings) -> str | None:
    """owner or member from the groups claim, else member for an allowed email domain; None
    when the account may not log in. The email must be verified when the claim says so."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is False:
        return None
    raw = claims.get(settings.oidc_groups_claim) or []
    groups = {g for g in raw if isinstance(g, str)} if isinstance(raw, list) else set()
    if groups & set(settings.oidc_owner_groups):
        return "owner"
    if groups & set(settings.oidc_member_groups):
        return "member"
    domain = email.rsplit("@", 1)[1].lower()
    if domain in {d.lower() for d in settings.oidc_allowed_domains}:
        return "member"
    return None
