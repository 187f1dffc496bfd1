"""Per-process state of a sender worker: the SMTP relays, the sent-send recorder, the token codec,
publishing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import lru_cache

from psycopg_pool import AsyncConnectionPool

from services.sender.recorder import Recorder
from services.sender.smtp import Relays
from shared.campaigns.models import Message
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


def publish(messages: Sequence[Message]) -> None:
    """Publish with confirms (blocking; call from a thread)."""
    from shared.broker import publish as broker_publish

    broker_publish(messages)


async def publish_async(messages: Sequence[Message], delay_ms: int = 0) -> None:
    """Publish after a commit without blocking the event loop; ``delay_ms`` defers delivery."""
    if not messages:
        return
    from shared.broker import broker

    def run() -> None:
        for message in messages:
            broker.enqueue(message, delay=delay_ms or None)

    await asyncio.to_thread(run)
