"""DKIM keys of a sender: generating, importing and checking private keys, and the DNS TXT
record that publishes a key's public half. The worker signs with them (services/sender/dkim.py).
"""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ALGORITHMS = ("rsa-sha256", "ed25519-sha256")
SELECTOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")  # as db/0085 checks it
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def load_private_key(text: str) -> PrivateKey:
    """A PEM private key (RSA or Ed25519), or dkimpy's base64 32-byte Ed25519 seed."""
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(stripped.encode("ascii"), password=None)
        if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            return key
        raise ValueError("DKIM keys must be RSA or Ed25519")
    raw = base64.b64decode(stripped, validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw)


def check_private_key(text: str, algorithm: str) -> PrivateKey:
    """The key, if it can sign ``algorithm``; ValueError saying why not (RFC 8301: RSA keys of
    at least 1024 bits; RFC 8463: Ed25519)."""
    try:
        key = load_private_key(text)
    except (ValueError, TypeError, UnicodeEncodeError) as error:
        raise ValueError(f"not a PEM RSA or Ed25519 private key ({error})") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if algorithm != "rsa-sha256":
            raise ValueError(f"an RSA key cannot sign {algorithm}")
        if key.key_size < 1024:
            raise ValueError("RSA DKIM keys need at least 1024 bits (2048 recommended)")
    elif algorithm != "ed25519-sha256":
        raise ValueError(f"an Ed25519 key cannot sign {algorithm}")
    return key


def generate_private_key(algorithm: str) -> str:
    """A new key as PEM: RSA 2048 for rsa-sha256 (what every verifier accepts), or Ed25519."""
    key: PrivateKey
    if algorithm == "ed25519-sha256":
        key = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "rsa-sha256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}")
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_txt_record(private_key: str) -> str:
    """The DNS TXT value that publishes a key (``v=DKIM1; k=...; p=...``)."""
    key = load_private_key(private_key)
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode("ascii")
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode("ascii")


def dns_name(selector: str, from_address: str) -> str:
    """Where a key's TXT record goes: ``<selector>._domainkey.<the From domain>``."""
    return f"{selector}._domainkey.{from_address.rsplit('@', 1)[1]}"
