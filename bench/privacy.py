"""Privacy benchmark on its own scratch database: how long one GDPR erase takes when the tables
it must search are large (raw inbound mail, webhook deliveries, events), and how fast the
retention purge rolls up and deletes old events (and its longest batch, the longest any row
lock is held).

    .venv/bin/python bench/privacy.py            # 1,000,000 events, 50,000 raw messages
    .venv/bin/python bench/privacy.py --small    # CI size: 50,000 events, 5,000 messages

Prints human lines, then one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs
from shared.config import get_settings
from shared.db import create_pool, transaction
from shared.migrate import drop_database, ensure_database, migrate
from shared.privacy import erasure, retention

FILL = """
WITH s AS (
    INSERT INTO senders (address, name, public_base_url, return_path_domain,
                         retention_events_days)
    VALUES (%(sender)s, 'Bench', 'https://links.example.com', 'example.com', 30) RETURNING id
), subs AS (
    INSERT INTO subscribers (sender_id, address)
    SELECT s.id, 'sub' || g || '@bench.example.org' FROM s, generate_series(1, %(subs)s) g
    RETURNING id, sender_id
), e AS (
    INSERT INTO emails (sender_id, name, state) SELECT id, 'bench', 'sent' FROM s RETURNING id
)
INSERT INTO sends (email_id, sender_id, subscriber_id, state, sent_at, smtp_reply)
SELECT e.id, subs.sender_id, subs.id, 'sent', now() - interval '60 days', '250 ok'
FROM e, subs;
"""
EVENTS = """
INSERT INTO send_events (send_id, email_id, subscriber_id, kind, link_index, ip, user_agent, at)
SELECT s.id, s.email_id, s.subscriber_id,
       (ARRAY['open', 'click', 'view']::event_kind[])[1 + g %% 3],
       CASE WHEN g %% 3 = 1 THEN (g / 3) %% 4 END, '203.0.113.9', 'Bench/1.0',
       now() - make_interval(days => 31 + g %% 60)
FROM generate_series(1, %(events)s) g
JOIN sends s ON s.id = (SELECT min(id) FROM sends) + g %% %(subs)s;
"""
INBOUND = """
INSERT INTO inbound_messages (sha256, raw, size, source, kind, state)
SELECT sha256(convert_to('m' || g, 'UTF8')),
       convert_to(repeat('Received: from mx' || g || '.example.net; ', 80)
                  || CASE WHEN g %% 100 = 0 THEN 'To: sub1@bench.example.org' ELSE '' END,
                  'UTF8'),
       4000, 'pipe', 'dmarc_failure', 'parsed'
FROM generate_series(1, %(inbound)s) g;
"""
WEBHOOKS = """
INSERT INTO webhook_deliveries (sender_id, event, payload, state)
SELECT (SELECT min(id) FROM senders), 'bounce',
       jsonb_build_object('address', 'sub' || (g %% %(subs)s + 1) || '@bench.example.org'),
       'delivered'
FROM generate_series(1, %(webhooks)s) g;
"""


async def measure(database_url: str) -> dict[str, float]:
    settings = get_settings().model_copy(update={"database_url": database_url})
    pool = create_pool(settings, name="bench", max_size=2)
    await pool.open(wait=True)
    try:
        async with pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT s.id, s.sender_id FROM subscribers s"
                    " WHERE address = 'sub1@bench.example.org'"
                )
            ).fetchone()
        assert row is not None
        started = time.perf_counter()
        async with transaction(pool) as tx:
            assert await erasure.erase(
                tx.conn,
                row["sender_id"],
                row["id"],
                key=b"bench-erasure-key-0123456789",
                source="api",
            )
        erase_ms = (time.perf_counter() - started) * 1000

        # one batch per pass, so each pass times one statement (the longest lock held)
        retention.MAX_BATCHES = 1
        purged, longest, idle = 0, 0.0, 0.0
        started = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            done = (await retention.run(pool, settings)).events
            took = time.perf_counter() - t0
            if done == 0:
                idle = took
                break
            purged += done
            longest = max(longest, took)
        purge_s = time.perf_counter() - started - idle
    finally:
        await pool.close()
    return {
        "erase_ms": round(erase_ms, 1),
        "purged_events": purged,
        "purge_events_per_s": round(purged / purge_s) if purge_s else 0,
        "purge_longest_batch_ms": round(longest * 1000, 1),
        "purge_idle_pass_ms": round(idle * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="CI size")
    args = parser.parse_args()
    sizes = (
        {"subs": 5000, "events": 50_000, "inbound": 5000, "webhooks": 10_000}
        if args.small
        else {"subs": 100_000, "events": 1_000_000, "inbound": 50_000, "webhooks": 200_000}
    )
    speed = procs.python_speed_ms()
    print(f"machine: a fixed Python loop takes {speed} ms (see bench/procs.py)", flush=True)
    database_url = f"postgresql://postgres@127.0.0.1:5432/tart_bench_privacy_{uuid.uuid4().hex[:8]}"
    ensure_database(database_url)
    try:
        migrate(database_url)
        started = time.perf_counter()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(FILL, {**sizes, "sender": f"bench-{uuid.uuid4().hex[:6]}@example.com"})
            conn.execute(EVENTS, sizes)
            conn.execute(INBOUND, sizes)
            conn.execute(WEBHOOKS, sizes)
            conn.execute("VACUUM ANALYZE")
        print(f"filled {sizes} in {time.perf_counter() - started:.1f} s", flush=True)
        figures = asyncio.run(measure(database_url))
    finally:
        drop_database(database_url)
    print(
        f"erase of one subscriber: {figures['erase_ms']} ms "
        f"(scans {sizes['inbound']:,} raw messages and {sizes['webhooks']:,} webhook deliveries)"
    )
    print(
        f"retention: {figures['purged_events']:,} events rolled up and deleted at "
        f"{figures['purge_events_per_s']:,}/s in batches of {retention.BATCH:,}, the longest "
        f"{figures['purge_longest_batch_ms']} ms; a pass with nothing old: "
        f"{figures['purge_idle_pass_ms']} ms"
    )
    print(json.dumps({**figures, **sizes, "python_loop_ms": speed}))


if __name__ == "__main__":
    main()
