"""DKIM key pairs for a sender: the private key to store and the DNS TXT record to publish."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ALGORITHMS = ("rsa-sha256", "ed25519-sha256")


@dataclass(frozen=True)
class DkimKey:
    private_pem: str
    dns_name: str
    dns_value: str


def public_record(private_pem: str, algorithm: str) -> str:
    """The TXT value (``v=DKIM1; k=...; p=...``) for a stored private key."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def generate(selector: str, domain: str, algorithm: str) -> DkimKey:
    """A new key: RSA 2048 for rsa-sha256 (what every verifier accepts), or Ed25519."""
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == "ed25519-sha256":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return DkimKey(
        private_pem=pem,
        dns_name=f"{selector}._domainkey.{domain}",
        dns_value=public_record(pem, algorithm),
    )
