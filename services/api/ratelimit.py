"""Per-key request rate limit shared by every API process, without a hot row on the request path.

Each key has a fixed one-minute window counted in ``rate_counters`` (key ``api:<key id>``).
Writing that row on every request serialised all requests of a key on its row lock (held until
the commit's WAL flush), which capped one key at a few hundred requests a second.

Instead a process leases tokens: it adds a chunk of ``ceil(limit * api_rate_chunk_share)``
requests (at least 1, at most ``MAX_CHUNK``) to the window's counter in one statement and spends
them locally. A lease that the counter cannot cover in full is granted only what is left, and
nothing once the window is exhausted, so the limit is never exceeded, whatever the number of
processes. The slack goes the other way: tokens leased by one process but not spent are lost to
the others for that window, so a key may be refused at most ``(P - 1) * chunk`` requests early
with P processes (5% of the limit per other process with the default share). Small limits
(under 20 a minute) use chunks of 1: exact. The lease also refreshes ``last_used_at`` (at most
once a minute).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.db import Conn
from shared.senders import repository as senders

WINDOW_S = 60
MAX_CHUNK = 1000


@dataclass
class _KeyState:
    window: int  # epoch second the window starts
    tokens: int = 0  # leased and not spent yet
    exhausted: bool = False  # the window's counter is at the limit: refuse without asking
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class Decision:
    """Whether the request may go on and, if not, how many seconds until the window ends."""

    allowed: bool
    retry_after: int


class RateLimiter:
    """The API process's limiter; ``check`` counts one request."""

    def __init__(self, *, chunk_share: float = 0.05) -> None:
        self.chunk_share = chunk_share
        self.keys: dict[int, _KeyState] = {}

    def chunk(self, limit: int) -> int:
        return max(1, min(MAX_CHUNK, math.ceil(limit * self.chunk_share)))

    async def check(self, conn: Conn, key_id: int, limit: int) -> Decision:
        """Count one request of ``key_id`` (whose limit is ``limit`` a minute). ``conn`` is the
        request's connection, in autocommit: a lease is one statement on it (a second checkout
        could starve the pool)."""
        now = time.time()
        window = int(now) // WINDOW_S * WINDOW_S
        retry_after = max(1, window + WINDOW_S - int(now))
        state = self.keys.get(key_id)
        if state is None or state.window != window:
            if len(self.keys) > 10_000:  # forget keys of past windows
                self.keys = {k: s for k, s in self.keys.items() if s.window == window}
            state = self.keys[key_id] = _KeyState(window=window)
        if state.tokens == 0 and not state.exhausted:
            async with state.lock:  # one lease at a time per key in this process
                if state.tokens == 0 and not state.exhausted:
                    await self._lease(conn, key_id, state, limit)
        if state.tokens > 0:
            state.tokens -= 1
            return Decision(True, retry_after)
        return Decision(False, retry_after)

    async def _lease(self, conn: Conn, key_id: int, state: _KeyState, limit: int) -> None:
        chunk = self.chunk(limit)
        start = datetime.fromtimestamp(state.window, UTC)
        total = await senders.lease_api_requests(conn, key_id, start, chunk)
        granted = max(0, min(chunk, limit - (total - chunk)))
        state.tokens += granted
        state.exhausted = total >= limit
