"""The SSO rules without a provider: who may log in with which role, the settings that refuse a
configuration with no way in, and the sealed state cookie."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from services.admin import oidc
from shared.config import Settings


def sso(**changes: object) -> Settings:
    base = {
        "oidc_issuer": "https://id.example.com", "oidc_client_id": "tart",
        "oidc_allowed_domains": ["corp.example"], "oidc_owner_groups": ["tart-owners"],
        "oidc_member_groups": ["tart-members"],
    }  # fmt: skip
    return Settings(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("claims", "role"),
    [
        ({"email": "a@corp.example", "email_verified": True}, "member"),
        ({"email": "a@CORP.example"}, "member"),
        ({"email": "a@other.example", "groups": ["tart-owners"]}, "owner"),
        ({"email": "a@corp.example", "groups": ["tart-members", "tart-owners"]}, "owner"),
        ({"email": "a@other.example", "groups": ["tart-members"]}, "member"),
        ({"email": "a@other.example", "groups": ["sales"]}, None),
        ({"email": "a@other.example", "groups": "tart-owners"}, None),  # not a list
        ({"email": "a@corp.example", "email_verified": False}, None),
        ({"email": "a@evil.corp.example"}, None),  # a subdomain is another domain
        ({"groups": ["tart-owners"]}, None),  # no address
    ],
)
def test_role_for(claims: dict[str, object], role: str | None) -> None:
    assert oidc.role_for(claims, sso()) == role


def test_settings_refuse_a_configuration_with_no_way_in() -> None:
    with pytest.raises(ValidationError, match="needs TART_OIDC_ISSUER"):
        Settings(admin_password_login=False)
    with pytest.raises(ValidationError, match="needs TART_OIDC_CLIENT_ID"):
        Settings(oidc_issuer="https://id.example.com")
    with pytest.raises(ValidationError, match="ALLOWED_DOMAINS or owner/member groups"):
        Settings(oidc_issuer="https://id.example.com", oidc_client_id="tart")
    assert not sso(admin_password_login=False).admin_password_login


def test_state_cookie_is_sealed_and_expires() -> None:
    value = oidc.seal("secret-0123456789", {"state": "s", "exp": int(time.time()) + 60})
    assert oidc.unseal("secret-0123456789", value) == {
        "state": "s",
        "exp": pytest.approx(time.time() + 60, abs=5),
    }
    assert oidc.unseal("another-secret-0123", value) is None
    data, mac = value.split(".")
    assert oidc.unseal("secret-0123456789", data[:-2] + "xx." + mac) is None
    old = oidc.seal("secret-0123456789", {"state": "s", "exp": int(time.time()) - 1})
    assert oidc.unseal("secret-0123456789", old) is None
    assert oidc.unseal("secret-0123456789", None) is None


async def test_id_token_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signature with the issuer's keys, and iss, aud, exp and nonce: each wrong one refused."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    provider = oidc.Provider(
        "https://id.example.com", "https://id.example.com/a", "https://id.example.com/t",
        "https://id.example.com/jwks-rules-test",
    )  # fmt: skip
    public = {"keys": [key.as_dict(private=False)]}

    async def get_json(url: str) -> object:  # the issuer's JWKS, as its jwks_uri serves it
        assert url == provider.jwks_uri
        return public

    monkeypatch.setattr(oidc, "_get_json", get_json)
    now = int(time.time())
    good = {"iss": provider.issuer, "aud": "tart", "sub": "u1", "iat": now, "exp": now + 60,
            "nonce": "n1", "email": "a@corp.example"}  # fmt: skip

    def token(claims: dict[str, object], signer: RSAKey = key) -> str:
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, signer)

    claims = await oidc.verify_id_token(provider, token(good), client_id="tart", nonce="n1")
    assert claims["email"] == "a@corp.example"
    bad = [
        ({**good, "iss": "https://evil.example"}, key),
        ({**good, "aud": "someone-else"}, key),
        ({**good, "nonce": "replayed"}, key),
        ({**good, "exp": now - 3600}, key),
        (good, stranger),  # signed by another key with the same kid
    ]
    for claims_, signer in bad:
        with pytest.raises(oidc.SsoRefused, match="does not verify"):
            await oidc.verify_id_token(
                provider, token(claims_, signer), client_id="tart", nonce="n1"
            )


async def test_an_unreachable_provider_is_a_503_not_a_500() -> None:
    from tests.fixtures.ports import free_port

    with pytest.raises(oidc.ProviderUnavailable) as caught:
        await oidc.discover(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    assert caught.value.status_code == 503
