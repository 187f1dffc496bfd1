"""Send tokens: a send id plus a truncated HMAC, verified without a table lookup.

The alphabet is lower-case base32 rather than base64url: the token also travels in the VERP
return path (``bounces+TOKEN@...``), and some MTAs fold the case of a local part. Several secrets
may be configured: the first one signs, every one verifies, so a secret can be rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

MAC_BYTES = 12  # 96 bits: forging one needs ~2^95 guesses against a rate-limited endpoint.
ID_BYTES = 8
TOKEN_LENGTH = 32  # base32 of 20 bytes, no padding
_DOMAIN = b"tart-send-token-v1"


class TokenCodec:
    """Signs and verifies send tokens with a list of secrets (first signs, all verify)."""

    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise ValueError("at least one token secret is required")
        self._keys = [hmac.new(s, _DOMAIN, hashlib.sha256).digest() for s in secrets]

    def _mac(self, key: bytes, payload: bytes) -> bytes:
        # hmac.digest: OpenSSL's one-shot HMAC, without an HMAC object (a per-message cost).
        return hmac.digest(key, payload, "sha256")[:MAC_BYTES]

    def encode(self, send_id: int) -> str:
        if not 0 < send_id < 2 ** (8 * ID_BYTES - 1):
            raise ValueError("send id out of range")
        payload = send_id.to_bytes(ID_BYTES, "big")
        raw = payload + self._mac(self._keys[0], payload)
        return base64.b32encode(raw).decode("ascii").lower()

    def decode(self, token: str) -> int | None:
        """The send id, or None for anything not signed by one of our secrets.

        Every key is tried even after a match, so timing does not tell which secret signed.
        """
        if len(token) != TOKEN_LENGTH or not token.isascii():
            return None
        try:
            raw = base64.b32decode(token.upper())
        except ValueError:
            return None
        payload, mac = raw[:ID_BYTES], raw[ID_BYTES:]
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(self._mac(key, payload), mac)
        if not matched:
            return None
        send_id = int.from_bytes(payload, "big")
        return send_id if send_id > 0 else None


def codec_from_settings_secrets(secrets: Sequence[str]) -> TokenCodec:
    return TokenCodec([s.encode("utf-8") for s in secrets])


class SignedValues:
    """Short signed tokens carrying a few non-negative integers and an expiry, bound to one
    purpose (a confirmation link's token cannot pass as a form's timestamp). URL-safe base64;
    the first secret signs, every one verifies, as for send tokens."""

    def __init__(self, secrets: Sequence[bytes], purpose: str) -> None:
        if not secrets:
            raise ValueError("at least one token secret is required")
        domain = b"tart-signed-values-v1:" + purpose.encode("ascii")
        self._keys = [hmac.new(s, domain, hashlib.sha256).digest() for s in secrets]

    def sign(self, values: Sequence[int], *, expires_at: int) -> str:
        """A token for ``values`` (each 0 to 2**63 - 1) valid until ``expires_at`` (epoch s)."""
        if any(not 0 <= v < 2**63 for v in (*values, expires_at)):
            raise ValueError("value out of range")
        payload = b"".join(v.to_bytes(ID_BYTES, "big") for v in (expires_at, *values))
        raw = payload + hmac.digest(self._keys[0], payload, "sha256")[:16]
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def verify(self, token: str, *, count: int, now: float) -> tuple[int, ...] | None:
        """The ``count`` values of a token signed by one of our secrets and not expired at
        ``now``; None otherwise (tampered, truncated, expired or another purpose's token)."""
        size = ID_BYTES * (count + 1) + 16
        if len(token) > 200 or not token.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return None
        if len(raw) != size:
            return None
        payload, mac = raw[:-16], raw[-16:]
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(hmac.digest(key, payload, "sha256")[:16], mac)
        if not matched:
            return None
        numbers = [
            int.from_bytes(payload[i : i + ID_BYTES], "big")
            for i in range(0, len(payload), ID_BYTES)
        ]
        if numbers[0] < now:
            return None
        return tuple(numbers[1:])


def signed_values(secrets: Sequence[str], purpose: str) -> SignedValues:
    return SignedValues([s.encode("utf-8") for s in secrets], purpose)
