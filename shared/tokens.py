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
