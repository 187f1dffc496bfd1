"""Per-process state of a sender worker: the SMTP relays and the token codec."""

from __future__ import annotations

from functools import lru_cache

from services.sender.smtp import Relays
from shared.config import get_settings
from shared.tokens import TokenCodec, codec_from_settings_secrets

_relays: Relays | None = None


def relays() -> Relays:
    """The process's relay pools (created on the worker's event loop, on first use)."""
    global _relays
    if _relays is None:
        s = get_settings()
        _relays = Relays(s.smtp_relays, s.smtp_pool_size, s.smtp_timeout_seconds)
    return _relays


@lru_cache(maxsize=1)
def codec() -> TokenCodec:
    return codec_from_settings_secrets([s.get_secret_value() for s in get_settings().token_secrets])
