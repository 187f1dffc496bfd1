"""The bounce and complaint guard's cost: one recount of a running campaign (guard_pause) as the
campaign grows. The recount runs at most every TART_CAMPAIGN_GUARD_INTERVAL_SECONDS per campaign
while bounces arrive, inside the transaction that records them, so its time is added to one bounce
batch per interval.

Creates its own database, a sender and one running campaign with N sent messages (3% bounced),
then times the statement (the campaign's check stamp reset before each call, and the rate kept
under the threshold so it never pauses). Prints human lines, then one JSON line.

    .venv/bin/python bench/guard.py [--sends N] [--repeat R]     # default 20,000 (CI size)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUN = uuid.uuid4().hex[:8]
os.environ.update(
    {
        "TART_ENV": "test",
        "TART_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/tart_bench_{RUN}",
        "TART_TOKEN_SECRETS": "bench-token-secret-0123456789",
        "TART_LOG_LEVEL": "warning",
        "TART_LOG_FORMAT": "console",
    }
)

import psycopg  # noqa: E402

from bench.procs import python_speed_ms  # noqa: E402
from shared.campaigns import repository as campaigns  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.db import create_pool  # noqa: E402
from shared.migrate import drop_database, ensure_database, migrate  # noqa: E402


def build(database_url: str, sends: int) -> tuple[int, int]:
    """A running campaign with ``sends`` sent messages, 3% of them bounced. Returns (campaign
    id, one send id)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        sender_id = conn.execute(
            "INSERT INTO senders (address, name, public_base_url, return_path_domain)"
            " VALUES ('news@bench.example', 'Bench', 'https://l.bench.example',"
            " 'b.bench.example') RETURNING id"
        ).fetchone()[0]
        email_id = conn.execute(
            "INSERT INTO emails (sender_id, name) VALUES (%s, 'bench') RETURNING id", (sender_id,)
        ).fetchone()[0]
        conn.execute("UPDATE emails SET state = 'sending' WHERE id = %s", (email_id,))
        campaign_id = conn.execute(
            "INSERT INTO campaigns (email_id, sender_id, state, started_at)"
            " VALUES (%s, %s, 'sending', now()) RETURNING id",
            (email_id, sender_id),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO subscribers (sender_id, address)"
            " SELECT %s, 'u' || g || '@bench.example' FROM generate_series(1, %s) g",
            (sender_id, sends),
        )
        conn.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id, campaign_id, state, sent_at,"
            " bounced_at)"
            " SELECT %s, %s, s.id, %s, 'sent', now(),"
            " CASE WHEN s.id %% 100 < 3 THEN now() END"
            " FROM subscribers s WHERE s.sender_id = %s",
            (email_id, sender_id, campaign_id, sender_id),
        )
        conn.execute("VACUUM ANALYZE sends")  # as autovacuum leaves a table that has settled
        send_id = conn.execute(
            "SELECT id FROM sends WHERE email_id = %s LIMIT 1", (email_id,)
        ).fetchone()[0]
    return campaign_id, send_id


async def time_recounts(campaign_id: int, send_id: int, repeat: int) -> list[float]:
    settings = get_settings()
    pool = create_pool(settings, name="bench-guard", max_size=1)
    await pool.open(wait=True, timeout=10)
    times = []
    try:
        async with pool.connection() as conn:
            for _ in range(repeat):
                await conn.execute(
                    "UPDATE campaigns SET guard_checked_at = NULL WHERE id = %s", (campaign_id,)
                )
                started = time.perf_counter()
                paused = await campaigns.guard_pause(conn, [send_id], 10)
                times.append((time.perf_counter() - started) * 1000)
                await conn.commit()
                assert paused == [], "the bench campaign must stay under its threshold"
    finally:
        await pool.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    speed = python_speed_ms()
    print(f"machine: a fixed Python loop takes {speed} ms (see bench/procs.py)", flush=True)
    settings = get_settings()
    ensure_database(settings.database_url)
    try:
        migrate(settings.database_url)
        started = time.perf_counter()
        campaign_id, send_id = build(settings.database_url, args.sends)
        print(f"built a campaign of {args.sends:,} sent messages in "
              f"{time.perf_counter() - started:.1f}s", flush=True)  # fmt: skip
        times = asyncio.run(time_recounts(campaign_id, send_id, args.repeat))
        median = statistics.median(times)
        print(f"guard recount: median {median:.1f} ms, max {max(times):.1f} ms "
              f"over {args.repeat} runs", flush=True)  # fmt: skip
        print(
            json.dumps(
                {
                    "bench": "guard",
                    "sends": args.sends,
                    "repeat": args.repeat,
                    "recount_ms_median": round(median, 2),
                    "recount_ms_max": round(max(times), 2),
                    "python_loop_ms": speed,
                }
            )
        )
    finally:
        drop_database(settings.database_url)


if __name__ == "__main__":
    main()
