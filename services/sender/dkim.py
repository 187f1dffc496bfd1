"""DKIM signing (RFC 6376, relaxed/relaxed) with rsa-sha256 and ed25519-sha256 (RFC 8463).

dkimpy signs RSA in pure Python (~155/s here); this canonicalises the headers and body itself
and signs with ``cryptography`` (OpenSSL), thousands per second. Tests verify every signature
with dkimpy as the independent verifier.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.senders.dkim import check_private_key, public_txt_record

__all__ = ["DkimSigner", "body_hash", "canonical_header", "public_txt_record", "signed_picks"]

Header = tuple[str, str]

# Headers a receiver shows or acts on. "from" is listed twice (over-signed) so that a second
# From added in transit breaks the signature.
SIGNED_HEADERS = (
    "from", "to", "subject", "date", "message-id", "reply-to", "list-unsubscribe",
    "list-unsubscribe-post", "precedence", "feedback-id", "x-tart-token", "mime-version",
    "content-type", "from",
)  # fmt: skip

_WSP_RUN = re.compile(rb"[ \t]+")
_WSP_EOL = re.compile(rb"[ \t]+\r\n")
_FOLD = re.compile(r"\r\n(?=[ \t])")
_WSP_TEXT = re.compile(r"[ \t]+")


def canonical_body(body: bytes) -> bytes:
    """Relaxed body canonicalisation (RFC 6376 3.4.4)."""
    # Fast path (memchr-speed checks): quoted-printable bodies seldom hold tabs, double spaces
    # or trailing spaces, and then only the trailing empty lines change.
    if b"\t" in body or b"  " in body or b" \r\n" in body:
        body = _WSP_RUN.sub(b" ", body)
        body = _WSP_EOL.sub(b"\r\n", body)
    body = body.rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


def canonical_header(name: str, value: str) -> str:
    """Relaxed header canonicalisation (RFC 6376 3.4.2)."""
    if "\r" in value or "  " in value or "\t" in value:  # most of our values need no rewrite
        value = _WSP_TEXT.sub(" ", _FOLD.sub("", value))
    value = value.strip()
    return f"{name.lower().strip()}:{value}\r\n"


class DkimSigner:
    """Signs messages for one domain and selector."""

    def __init__(self, domain: str, selector: str, algorithm: str, private_key: str) -> None:
        """Raises ValueError for a key that cannot sign ``algorithm``."""
        self.domain = domain
        self.selector = selector
        self.key = check_private_key(private_key, algorithm)
        self.algorithm = algorithm

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        # RFC 8463: Ed25519 (pure) over the SHA-256 of the canonicalised data.
        return self.key.sign(hashlib.sha256(data).digest())

    def sign(self, headers: Sequence[Header], body: bytes, timestamp: int | None = None) -> Header:
        """The ``DKIM-Signature`` header for a message made of ``headers`` and ``body``."""
        h, picks = signed_picks([name for name, _ in headers])
        canonical = "".join(canonical_header(*headers[i]) for i in picks if i >= 0)
        return self.sign_canonical(canonical, h, body_hash(body), timestamp)

    def sign_canonical(
        self, canonical_headers: str, h: str, bh: str, timestamp: int | None = None
    ) -> Header:
        """The signature from parts prepared once per message for every key (and, for headers
        that never vary, once per batch): the signed headers in canonical form and h= order,
        the h= tag and the body hash (``signed_picks``, ``canonical_header``, ``body_hash``)."""
        stamp = int(time.time()) if timestamp is None else timestamp
        value = (
            f"v=1; a={self.algorithm}; c=relaxed/relaxed; d={self.domain}; s={self.selector};\r\n"
            f"\tt={stamp}; h={h};\r\n\tbh={bh};\r\n\tb="
        )
        data = canonical_headers + canonical_header("DKIM-Signature", value).rstrip("\r\n")
        signature = base64.b64encode(self._sign(data.encode("utf-8"))).decode("ascii")
        return "DKIM-Signature", value + signature


def body_hash(body: bytes) -> str:
    """The bh= tag: SHA-256 of the relaxed body, base64 (the same for every key)."""
    return base64.b64encode(hashlib.sha256(canonical_body(body)).digest()).decode()


def signed_picks(names: Sequence[str]) -> tuple[str, list[int]]:
    """For a message whose headers are named ``names`` (in order): the h= tag and, in its order,
    the index of the header each listed name signs, -1 for an over-signed name with no instance
    left. Each name takes the last unused instance (RFC 6376 5.4.2); absent names are not
    listed. The same for every message built with the same header names."""
    remaining: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        remaining.setdefault(name.lower(), []).append(i)
    listed: list[str] = []
    picks: list[int] = []
    for name in SIGNED_HEADERS:
        stack = remaining.get(name)
        if stack is None:
            continue  # absent headers are not listed (over-signing only for present ones)
        listed.append(name)
        picks.append(stack.pop() if stack else -1)
    return ":".join(listed), picks
