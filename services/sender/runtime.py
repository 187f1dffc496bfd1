"""Per-process state of a sender worker: the SMTP relays, the sent-send recorder and the token
codec."""

from __future__ import annotations

from functools import lru_cache

from psycopg_pool import AsyncConnectionPool

from services.sender.recorder import Recorder
from services.sender.smtp import Relays
from shared.config import get_settings
from shared.tokens import TokenCodec, codec_from_settings_secrets

_relays: Relays | None = None
_recorder: Recorder | None = None


def relays() -> Relays:
    """The process's relay pools (created on the worker's event loop, on first use)."""
    global _relays
    if _relays is None:
        s = get_settings()
        _relays = Relays(
            s.smtp_relays, s.smtp_pool_size, s.smtp_timeout_seconds,
            cooldown=s.smtp_relay_cooldown_seconds,
        )  # fmt: skip
    return _relays


def recorder(pool: AsyncConnectionPool) -> Recorder:
    """The process's recorder of accepted sends (on the worker's event loop, on first use)."""
    global _recorder
    if _recorder is None or _recorder.pool is not pool:
        lease = get_settings().send_lease_seconds
        _recorder = Recorder(pool, retry_seconds=lease * 0.8)
    return _recorder


@lru_cache(maxsize=1)
def codec() -> TokenCodec:
    return codec_from_settings_secrets([s.get_secret_value() for s in get_settings().token_secrets])
