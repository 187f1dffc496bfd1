"""Configure a sender's ESP endpoints: what the intake verifies each provider's callbacks with.

Values are checked here, once, for the API (and any other caller): an SNS topic ARN, a SendGrid
verification key that loads as a P-256 public key, a Mailgun signing key, and a Postmark user
whose password is generated here, returned once and stored only as a hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from shared.db import Conn
from shared.errors import NotFound, Unprocessable
from shared.esp import repository

PROVIDERS = ("ses", "sendgrid", "postmark", "mailgun")
_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov)?:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_TOKEN_TEXT = re.compile(r"^[\x21-\x7e]{8,200}$")  # printable, no space, no CR/LF
_USERNAME = re.compile(r"^[\x21-\x39\x3b-\x7e]{1,100}$")  # printable, no ':' (basic auth)


def hash_secret(secret: str) -> bytes:
    """What is stored of a Postmark basic-auth password: generated here, 192 random bits, so a
    fast hash is enough (no dictionary to try)."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def intake_path(sender_id: int, provider: str) -> str:
    """The path to give the provider (under the receiver's public URL)."""
    return f"/esp/{sender_id}/{provider}"


def _sendgrid_key(value: str) -> str:
    try:
        key = load_der_public_key(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error) as error:
        raise Unprocessable("public_key: not a base64 DER public key") from error
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise Unprocessable("public_key: SendGrid's verification key is an ECDSA P-256 key")
    return value


async def put_endpoint(
    conn: Conn,
    sender_id: int,
    provider: str,
    *,
    topic_arns: list[str] | None = None,
    public_key: str | None = None,
    signing_key: str | None = None,
    username: str | None = None,
) -> dict[str, Any]:
    """Configure ``provider`` for the sender. Returns the endpoint, with ``password`` (Postmark
    only) shown this once."""
    if provider not in PROVIDERS:
        raise NotFound(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    password = None
    fields: dict[str, Any] = {}
    if provider == "ses":
        arns = sorted(set(topic_arns or []))
        if not arns or not all(_ARN.match(a) for a in arns):
            raise Unprocessable("topic_arns: one or more SNS topic ARNs are required")
        fields["topic_arns"] = arns
    elif provider == "sendgrid":
        if not public_key:
            raise Unprocessable("public_key: SendGrid's verification key is required")
        fields["public_key"] = _sendgrid_key(public_key.strip())
    elif provider == "mailgun":
        if not signing_key or not _TOKEN_TEXT.match(signing_key):
            raise Unprocessable("signing_key: Mailgun's HTTP webhook signing key is required")
        fields["secret"] = signing_key
    else:
        user = username or "postmark"
        if not _USERNAME.match(user):
            raise Unprocessable("username: 1-100 printable characters without ':' or spaces")
        password = secrets.token_urlsafe(24)
        fields.update(username=user, secret_hash=hash_secret(password))
    row = await repository.put_endpoint(conn, sender_id, provider, **fields)
    return {**row, "path": intake_path(sender_id, provider), "password": password}


async def list_endpoints(conn: Conn, sender_id: int) -> list[dict[str, Any]]:
    """The sender's configured providers (no secret)."""
    rows = await repository.list_endpoints(conn, sender_id)
    return [{**r, "path": intake_path(sender_id, r["provider"]), "password": None} for r in rows]


async def get_endpoint(conn: Conn, sender_id: int, provider: str) -> dict[str, Any] | None:
    """One configured provider, without any secret (None when not configured)."""
    rows = await list_endpoints(conn, sender_id)
    return next((r for r in rows if r["provider"] == provider), None)


async def delete_endpoint(conn: Conn, sender_id: int, provider: str) -> None:
    """Stop taking ``provider``'s callbacks for the sender (404 when none was configured)."""
    if not await repository.delete_endpoint(conn, sender_id, provider):
        raise NotFound(f"no {provider} endpoint is configured")
