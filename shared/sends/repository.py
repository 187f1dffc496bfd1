"""Send rows on the worker's hot path. Every statement here is set-based: one round trip per
batch, never one per row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.db import Conn, Row, execute, fetch_all, fetch_one, load_queries

Q = load_queries(__file__)


@dataclass
class Outcomes:
    """A batch's results, column by column, for ``record_outcomes``."""

    ids: list[int] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    variation_ids: list[int | None] = field(default_factory=list)
    codes: list[int | None] = field(default_factory=list)
    replies: list[str | None] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    delays: list[float | None] = field(default_factory=list)
    attempts: list[int | None] = field(default_factory=list)

    def add(
        self,
        send_id: int,
        state: str,
        variation_id: int | None,
        code: int | None = None,
        reply: str | None = None,
        error: str | None = None,
        delay: float | None = None,
        *,
        attempt: int | None = None,
    ) -> None:
        """``attempt``: the claim's attempt number, so only that claim's row changes."""
        self.ids.append(send_id)
        self.states.append(state)
        self.variation_ids.append(variation_id)
        self.codes.append(code)
        self.replies.append(reply)
        self.errors.append(error)
        self.delays.append(delay)
        self.attempts.append(attempt)


@dataclass
class SentRows:
    """Accepted sends, column by column, for ``record_sent``."""

    ids: list[int] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    variation_ids: list[int | None] = field(default_factory=list)
    codes: list[int | None] = field(default_factory=list)
    relay_ids: list[str | None] = field(default_factory=list)

    def add(
        self,
        send_id: int,
        attempt: int,
        variation_id: int | None,
        code: int | None,
        relay_id: str | None = None,
    ) -> None:
        self.ids.append(send_id)
        self.attempts.append(attempt)
        self.variation_ids.append(variation_id)
        self.codes.append(code)
        self.relay_ids.append(relay_id)


async def claim_batch(
    conn: Conn, email_id: int, first_id: int, last_id: int, *, limit: int, lease_seconds: float
) -> list[Row]:
    params = {
        "email_id": email_id,
        "first_id": first_id,
        "last_id": last_id,
        "limit": limit,
        "lease_seconds": lease_seconds,
    }
    return await fetch_all(conn, Q.claim_batch, params)


async def record_outcomes(conn: Conn, outcomes: Outcomes) -> int:
    if not outcomes.ids:
        return 0
    params = {
        "ids": outcomes.ids,
        "states": outcomes.states,
        "variation_ids": outcomes.variation_ids,
        "codes": outcomes.codes,
        "replies": outcomes.replies,
        "errors": outcomes.errors,
        "delays": outcomes.delays,
        "attempts": outcomes.attempts,
    }
    return await execute(conn, Q.record_outcomes, params)


async def record_sent(conn: Conn, rows: SentRows) -> int:
    if not rows.ids:
        return 0
    params = {
        "ids": rows.ids,
        "attempts": rows.attempts,
        "variation_ids": rows.variation_ids,
        "codes": rows.codes,
        "relay_ids": rows.relay_ids,
    }
    return await execute(conn, Q.record_sent, params)


async def take_rate(conn: Conn, key: str, unit: str, n: int) -> tuple[int, datetime]:
    row = await fetch_one(conn, Q.take_rate, {"key": key, "unit": unit, "n": n})
    assert row is not None
    return row["count"], row["window_start"]


async def give_back_rate(conn: Conn, key: str, window_start: datetime, n: int) -> None:
    if n > 0:
        await execute(conn, Q.give_back_rate, {"key": key, "window_start": window_start, "n": n})


async def purge_rate_counters(conn: Conn) -> int:
    return await execute(conn, Q.purge_rate_counters)


async def release_expired_leases(conn: Conn, batch_size: int) -> list[Row]:
    return await fetch_all(conn, Q.release_expired_leases, {"batch_size": batch_size})


async def stale_queued_ranges(conn: Conn, age_seconds: float, batch_size: int) -> list[Row]:
    params = {"age_seconds": age_seconds, "batch_size": batch_size}
    return await fetch_all(conn, Q.stale_queued_ranges, params)


async def stale_transactional_ranges(conn: Conn, age_seconds: float, batch_size: int) -> list[Row]:
    params = {"age_seconds": age_seconds, "batch_size": batch_size}
    return await fetch_all(conn, Q.stale_transactional_ranges, params)


async def payloads(conn: Conn, ids: list[int]) -> dict[int, Row]:
    """The payloads of claimed transactional rows, by send id."""
    if not ids:
        return {}
    return {r["send_id"]: r for r in await fetch_all(conn, Q.payloads, {"ids": ids})}


async def batch_context(conn: Conn, email_id: int) -> Row | None:
    return await fetch_one(conn, Q.batch_context, {"email_id": email_id})


async def sender_context(conn: Conn, sender_id: int) -> Row | None:
    return await fetch_one(conn, Q.sender_context, {"sender_id": sender_id})


async def email_variations(conn: Conn, email_id: int) -> list[Row]:
    return await fetch_all(conn, Q.email_variations, {"email_id": email_id})
