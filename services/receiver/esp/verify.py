"""Who sent a callback: each provider's signature or credentials, checked before anything is
stored. Every check raises an ``AppError`` with a clear status; none touches the database except
through the caller (Mailgun's used tokens are recorded by the intake).

- SES/SNS: the message signature (SignatureVersion 1: RSA-SHA1, 2: RSA-SHA256) over the
  documented string to sign, with the certificate at SigningCertURL, which must be an https URL
  on an SNS host (``sns.<region>.amazonaws.com``); fetched over verified TLS and cached; and,
  with TART_ESP_SNS_CA_FILE, chained to those CAs.
- SendGrid: ECDSA P-256/SHA-256 over timestamp + body, with the sender's verification key.
- Postmark: HTTP basic auth (Postmark signs nothing), compared in constant time.
- Mailgun: HMAC-SHA256 of timestamp + token with the signing key.
SendGrid, Mailgun and SNS carry a timestamp: one older than ``max_age`` is a replay.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from shared.errors import AppError
from shared.esp.service import hash_secret

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
MAX_CERT_BYTES = 64 * 1024
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class BadSignature(AppError):
    """The callback's signature or credentials do not verify: nothing is stored."""

    status_code, error_type = 403, "BadSignature"


class Replay(AppError):
    """The callback is older than the allowed age, or its signature token was used already."""

    status_code, error_type = 409, "Replay"


class BadCredentials(AppError):
    """Postmark's basic auth is missing or wrong."""

    status_code, error_type = 401, "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Basic realm="tart-esp"'})


def check_fresh(timestamp: datetime, now: datetime, max_age: float) -> None:
    """Refuse a timestamp older than ``max_age`` seconds (or more than that in the future)."""
    if abs((now - timestamp).total_seconds()) > max_age:
        raise Replay(f"the callback's timestamp {timestamp.isoformat()} is not fresh")


def _unix(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except (TypeError, ValueError, OverflowError) as error:
        raise BadSignature("the signature timestamp is not a number") from error


# Amazon SNS ------------------------------------------------------------------------------------


def check_sns_url(url: Any, what: str = "SigningCertURL") -> str:
    """``url`` as long as it is https on an SNS host (never a URL the caller chose)."""
    if not isinstance(url, str):
        raise BadSignature(f"the SNS message has no {what}")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not SNS_HOST.match(host) or parts.username or parts.port:
        raise BadSignature(f"the {what} is not an https URL on an SNS host")
    return url


_SNS_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip


def sns_string_to_sign(document: dict[str, Any]) -> bytes:
    """The bytes SNS signs: ``name\\nvalue\\n`` for each documented field, in order; Subject
    only when present."""
    fields = _SNS_FIELDS.get(str(document.get("Type")))
    if fields is None:
        raise BadSignature("unknown SNS message type")
    out = []
    for name in fields:
        value = document.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise BadSignature(f"the SNS message has no {name}")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


_cert_cache: dict[str, bytes] = {}


async def fetch_certificate(url: str) -> bytes:
    """The PEM at an SNS signing certificate URL, over verified TLS, cached per process."""
    cached = _cert_cache.get(url)
    if cached is not None:
        return cached
    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
        response = await client.get(url)
    if response.status_code != 200 or len(response.content) > MAX_CERT_BYTES:
        raise BadSignature("the SNS signing certificate could not be fetched")
    _cert_cache[url] = response.content
    return response.content


def load_cas(path: str) -> list[x509.Certificate]:
    """The CA certificates of ``TART_ESP_SNS_CA_FILE``."""
    return x509.load_pem_x509_certificates(Path(path).read_bytes())


def check_chain(
    cert: x509.Certificate, intermediates: list[x509.Certificate], cas: list[x509.Certificate],
    now: datetime,
) -> None:  # fmt: skip
    """The signing certificate chains to one of ``cas`` (WebPKI rules for the CAs; the signing
    certificate itself is no TLS certificate, so its extensions are not constrained)."""
    verifier = (
        PolicyBuilder()
        .store(Store(cas))
        .time(now)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(cert, intermediates)
    except VerificationError as error:
        raise BadSignature("the SNS signing certificate is not from a trusted CA") from error


def verify_sns_signature(
    document: dict[str, Any],
    cert_pem: bytes,
    now: datetime,
    cas: list[x509.Certificate] | None = None,
) -> None:
    """Check an SNS message's signature with its signing certificate (valid now, RSA, and
    chained to ``cas`` when given)."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as error:
        raise BadSignature("the SNS signing certificate is not a PEM certificate") from error
    cert = chain[0]
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise BadSignature("the SNS signing certificate is not valid now")
    if cas is not None:
        check_chain(cert, chain[1:], cas, now)
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadSignature("the SNS signing certificate does not hold an RSA key")
    version = str(document.get("SignatureVersion"))
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()  # noqa: S303 - SNS SignatureVersion 1 is defined with SHA1
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        raise BadSignature("unsupported SNS SignatureVersion")
    try:
        signature = base64.b64decode(str(document.get("Signature", "")), validate=True)
        key.verify(signature, sns_string_to_sign(document), padding.PKCS1v15(), algorithm)
    except (InvalidSignature, binascii.Error) as error:
        raise BadSignature("the SNS message signature does not verify") from error


def sns_timestamp(document: dict[str, Any]) -> datetime:
    try:
        stamp = datetime.fromisoformat(str(document.get("Timestamp")).replace("Z", "+00:00"))
    except ValueError as error:
        raise BadSignature("the SNS Timestamp is not an ISO time") from error
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


# SendGrid --------------------------------------------------------------------------------------


def verify_sendgrid(
    body: bytes, signature: str | None, timestamp: str | None, public_key: str
) -> datetime:
    """Check SendGrid's ECDSA signature over timestamp + body. Returns the signed time."""
    if not signature or not timestamp:
        raise BadSignature(f"{SENDGRID_SIGNATURE} and {SENDGRID_TIMESTAMP} are required")
    try:
        key = load_der_public_key(base64.b64decode(public_key))
    except (ValueError, binascii.Error) as error:
        raise BadSignature("the configured SendGrid verification key is unusable") from error
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise BadSignature("the configured SendGrid verification key is not an EC key")
    try:
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode("ascii") + body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error, UnicodeEncodeError) as error:
        raise BadSignature("the SendGrid signature does not verify") from error
    return _unix(timestamp)


# Postmark --------------------------------------------------------------------------------------


def verify_basic_auth(header: str | None, username: str, secret_hash: bytes) -> None:
    """Check an ``Authorization: Basic`` header against the stored user and password hash."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic" or not value:
        raise BadCredentials("basic auth is required")
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise BadCredentials("the basic auth header is malformed") from error
    good_user = hmac.compare_digest(user.encode(), username.encode())
    good_secret = hmac.compare_digest(hash_secret(password), secret_hash)
    if not (sep and good_user and good_secret):
        raise BadCredentials("the basic auth credentials are wrong")


# Mailgun ---------------------------------------------------------------------------------------


def verify_mailgun(body: dict[str, Any], signing_key: str) -> tuple[str, datetime]:
    """Check Mailgun's HMAC of timestamp + token. Returns (token, signed time): the caller
    refuses a token it has seen."""
    signature = body.get("signature")
    if not isinstance(signature, dict):
        raise BadSignature("a Mailgun webhook body carries a signature object")
    timestamp, token, digest = (
        str(signature.get(k) or "") for k in ("timestamp", "token", "signature")
    )
    if not (timestamp and token and digest):
        raise BadSignature("the Mailgun signature needs timestamp, token and signature")
    expected = hmac.new(
        signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, digest.lower()):
        raise BadSignature("the Mailgun signature does not verify")
    return token, _unix(timestamp)
