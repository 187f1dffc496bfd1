"""Benchmark of engagement segments, queueing to them, and automation entry, on a scratch
database (issue 17).

Data: N subscribers (a third on plan "pro"), 20 emails each sent to a quarter of them (5 N send
rows over the 20), and 10 N opens and clicks on those sends within 10 days of each (15 % of them
machine opens and scanner clicks, which count for nothing). Figures:

  count_engagement_ms     p95 of counting the segment
                          'opened email E3 and not clicked within 30 days and plan = "pro"'
                          through the segment count the API and the admin use (goal < 2,000)
  queue_engagement_1m_s   queueing a bulk send to an engagement segment of about 0.45 N
                          subscribers: queue_bulk_send, then the dispatcher creating every send
                          row (send.batch messages are not published) (goal < 20)
  automation_enter_100k_s 100,000 (0.1 N) new subscribers entering a sequence whose first step
                          sends an email, until every first-step send is queued (goal < 30)

    .venv/bin/python bench/segments.py            # 1,000,000 subscribers, 10,000,000 events
    .venv/bin/python bench/segments.py --small    # 50,000 subscribers, 500,000 events
    .venv/bin/python bench/segments.py --keep     # keep the data as loaded (name printed)
    .venv/bin/python bench/segments.py --reuse tart_bench_segments_1a2b3c4d_loaded
                                                  # run on a copy of kept data, no loading

Each run works on a scratch database that it drops at the end; a kept one is dropped by hand
(DROP DATABASE ... WITH (FORCE)).

Prints human lines, then one JSON line last.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = f"tart_bench_segments_{uuid.uuid4().hex[:8]}"
os.environ["TART_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{DB}"
os.environ.setdefault("TART_ENV", "dev")
os.environ.setdefault("TART_LOG_LEVEL", "warning")

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

from bench.procs import python_speed_ms  # noqa: E402
from shared.automations import engine  # noqa: E402
from shared.automations import service as automations  # noqa: E402
from shared.automations.service import Step  # noqa: E402
from shared.campaigns import service as campaigns  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.db import create_pool, transaction  # noqa: E402
from shared.filters import parse_filter  # noqa: E402
from shared.migrate import drop_database, ensure_database, migrate  # noqa: E402
from shared.segments import service as segments  # noqa: E402

EMAILS = 20
COUNTED = 'opened email {e3} and not clicked within 30 days and plan = "pro"'
# About 0.45 N: who opened anything in the last two days (the last email and part of the one
# before), without having clicked email 3.
QUEUED = "opened within 2 days and not clicked email {e3}"


def log(text: str) -> None:
    print(text, flush=True)


def load(url: str, n: int) -> tuple[int, list[int]]:
    """Subscribers, emails, sends and events, in set-based statements; returns the sender and
    its email ids.

    Loading 5 N sends and 10 N events through the tables' secondary indexes and per-row foreign
    key checks took about 23 minutes at full size. So the sends are numbered in a temporary
    table, the events are generated from it, and each send is inserted once with its counters
    already summed; the secondary indexes of the two tables are rebuilt afterwards from their
    own definitions (the same indexes, built in one pass each), and the foreign keys are not
    checked row by row (session_replication_role) since every row is built from existing ones."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET work_mem = '256MB'")
        sender = conn.execute(
            "INSERT INTO senders (address, name, public_base_url, return_path_domain) VALUES"
            " ('news@bench.example.com', 'Bench', 'https://l.example.com', 'bench.example.com')"
            " RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        t = time.perf_counter()
        conn.execute(
            "INSERT INTO subscribers (sender_id, address, locale, properties, created_at)"
            " SELECT %s, 'user' || g || '@example.com', (ARRAY['C','en_US','tr_TR'])[1 + g %% 3],"
            " jsonb_build_object('plan', (ARRAY['free','pro','team'])[1 + (g / 3) %% 3],"
            "                    'score', g %% 100),"
            " now() - interval '400 days'"
            " FROM generate_series(1, %s) g",
            [sender, n],
        )
        log(f"{n:,} subscribers in {time.perf_counter() - t:.1f}s")
        emails = [
            conn.execute(
                "INSERT INTO emails (sender_id, name) VALUES (%s, %s) RETURNING id",
                [sender, f"e{i}"],
            ).fetchone()[0]  # type: ignore[index]
            for i in range(EMAILS + 2)
        ]
        for email_id in emails:
            conn.execute(
                "INSERT INTO variations (email_id, name, subject, plain_body)"
                " VALUES (%s, 'A', 'Hi', 'Hello {{ unsubscribe_url }}')",
                [email_id],
            )
        t = time.perf_counter()
        indexes = conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
            " FROM pg_index i WHERE i.indrelid IN ('sends'::regclass, 'send_events'::regclass)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        ).fetchall()
        with conn.transaction():
            for name, _ in indexes:
                conn.execute(f"DROP INDEX {name}")
            conn.execute("SET LOCAL session_replication_role = replica")
            # email i (1..20) went out 3 * (20 - i) days ago to the quarter (id + i) % 4 = 0
            conn.execute(
                "CREATE TEMP TABLE bench_sends ON COMMIT DROP AS"
                " SELECT row_number() OVER (ORDER BY e.i, s.id) AS id, e.id AS email_id,"
                "  s.id AS subscriber_id,"
                "  now() - make_interval(days => (3 * (20 - e.i))::int) AS sent_at"
                " FROM unnest(%s::bigint[]) WITH ORDINALITY AS e(id, i)"
                " JOIN subscribers s ON s.sender_id = %s AND (s.id + e.i) %% 4 = 0",
                [emails[:EMAILS], sender],
            )
            # 0 to 4 events a send (2 on average): 70 % opens, 30 % clicks; 15 % machine
            conn.execute(
                "INSERT INTO send_events (send_id, email_id, subscriber_id, kind, at, machine,"
                " link_index)"
                " SELECT s.id, s.email_id, s.subscriber_id,"
                "  CASE WHEN h % 10 < 7 THEN 'open' ELSE 'click' END::event_kind,"
                "  s.sent_at + make_interval(secs => (h % greatest(1, least(864000,"
                "   extract(epoch FROM now() - s.sent_at)::bigint)))::int),"
                "  h % 100 < 15, CASE WHEN h % 10 < 7 THEN NULL ELSE h % 4 END"
                " FROM bench_sends s, generate_series(1, (s.id * 7 + s.subscriber_id) % 5) k,"
                "  LATERAL (SELECT abs(hashint8(s.id * 5 + k)) AS h) r"
                " ORDER BY s.id"
            )
            log(f"events in {time.perf_counter() - t:.1f}s")
            # each send with the counters the events worker keeps (shared/events record_batch)
            conn.execute(
                "INSERT INTO sends (id, email_id, sender_id, subscriber_id, state, sent_at,"
                " open_count, click_count, machine_open_count, machine_click_count)"
                " OVERRIDING SYSTEM VALUE"
                " SELECT b.id, b.email_id, %s, b.subscriber_id, 'sent', b.sent_at,"
                "  coalesce(a.opens, 0), coalesce(a.clicks, 0), coalesce(a.mopens, 0),"
                "  coalesce(a.mclicks, 0)"
                " FROM bench_sends b LEFT JOIN"
                " (SELECT send_id, count(*) FILTER (WHERE kind = 'open' AND NOT machine) opens,"
                "   count(*) FILTER (WHERE kind = 'click' AND NOT machine) clicks,"
                "   count(*) FILTER (WHERE kind = 'open' AND machine) mopens,"
                "   count(*) FILTER (WHERE kind = 'click' AND machine) mclicks"
                "  FROM send_events GROUP BY send_id) a ON a.send_id = b.id"
                " ORDER BY b.id",
                [sender],
            )
            conn.execute("SELECT setval(pg_get_serial_sequence('sends', 'id'), max(id)) FROM sends")
            log(f"sends in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
        log(f"{len(indexes)} indexes rebuilt in {time.perf_counter() - t:.1f}s")
        conn.execute("VACUUM ANALYZE subscribers")
        conn.execute("VACUUM ANALYZE sends")
        conn.execute("VACUUM ANALYZE send_events")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM sends), (SELECT count(*) FROM send_events)"
        ).fetchone()
        assert counts is not None
        log(f"data: {counts[0]:,} sends, {counts[1]:,} events")
        return int(sender), [int(e) for e in emails]


def copy_database(url: str, template: str) -> None:
    """The scratch database as a file copy of a kept one: the same data without loading it.

    The copy needs the kept database to itself; an autovacuum worker that has just started on
    freshly loaded tables holds it for a moment, hence the retries."""
    maintenance = make_conninfo(url, dbname="postgres")
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(DB), sql.Identifier(template)
    )
    with psycopg.connect(maintenance, autocommit=True) as conn:
        for attempt in range(60):
            try:
                conn.execute(create)
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 59:
                    raise
                time.sleep(2)


def loaded(url: str) -> tuple[int, int, list[int]]:
    """The sender, its subscriber count and its email ids in a database ``load`` filled."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT s.id, (SELECT count(*) FROM subscribers WHERE sender_id = s.id)"
            " FROM senders s WHERE s.address = 'news@bench.example.com'"
        ).fetchone()
        assert row is not None, "not a database of bench/segments.py"
        emails = conn.execute(
            "SELECT id FROM emails WHERE sender_id = %s ORDER BY id", [row[0]]
        ).fetchall()
        return int(row[0]), int(row[1]), [int(e[0]) for e in emails]


async def run(
    sender: int, emails: list[int], n: int, repeat: int, entering: int
) -> dict[str, object]:
    settings = get_settings()
    pool = create_pool(settings, name="bench", max_size=4)
    await pool.open(wait=True)
    result: dict[str, object] = {"subscribers": n}
    try:
        e3 = emails[2]
        async with transaction(pool) as tx:
            seg = await segments.create(tx.conn, sender, "counted", COUNTED.format(e3=e3))
        samples = []
        members = 0
        for _ in range(repeat):
            async with pool.connection() as conn:
                t = time.perf_counter()
                members = await segments.count(conn, sender, seg["id"])
                samples.append((time.perf_counter() - t) * 1000)
        p95 = sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]
        log(f"count {COUNTED.format(e3=e3)!r}: {members:,} members;"
            f" p50 {statistics.median(samples):.0f} ms, p95 {p95:.0f} ms")  # fmt: skip
        result["count_engagement_ms"] = round(p95)
        result["count_engagement_members"] = members

        from services.sender.dispatch import dispatch

        async def discard(_jobs: object) -> None:
            return None

        target = emails[EMAILS]
        t = time.perf_counter()
        async with transaction(pool) as tx:
            campaign, _ = await campaigns.queue_bulk_send(
                tx.conn, sender_id=sender, email_id=target, locales=None, contains=None,
                filter=parse_filter(QUEUED.format(e3=e3)), max_count=None, scheduled_at=None,
                ab=None,
            )  # fmt: skip
        queued = await dispatch(pool, campaign["id"], settings=settings, publish=discard)  # type: ignore[arg-type]
        seconds = time.perf_counter() - t
        log(f"queue {QUEUED.format(e3=e3)!r}: {queued:,} sends in {seconds:.1f}s")
        result["queue_engagement_1m_s"] = round(seconds, 2)
        result["queue_engagement_recipients"] = queued

        welcome = emails[EMAILS + 1]
        async with transaction(pool) as tx:
            await automations.create(
                tx.conn, sender, name="welcome", trigger="subscriber_created", segment_id=None,
                date_property=None, steps=[Step("send", email_id=welcome),
                Step("wait", wait_seconds=86400)], active=True,
            )  # fmt: skip
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO subscribers (sender_id, address, properties)"
                " SELECT %s, 'new' || g || '@example.com', '{}' FROM generate_series(1, %s) g",
                [sender, entering],
            )
            await conn.commit()
        t = time.perf_counter()
        messages = await engine.run_pass(pool, settings.send_batch_size)
        seconds = time.perf_counter() - t
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM sends WHERE email_id = %s",
                                     [welcome])  # fmt: skip
            sent = (await cur.fetchone())["n"]  # type: ignore[index]
        log(f"automation: {entering:,} entered, {sent:,} first-step sends queued"
            f" ({len(messages)} send.batch messages) in {seconds:.1f}s")  # fmt: skip
        result["automation_enter_100k_s"] = round(seconds, 2)
        result["automation_entered"] = sent
    finally:
        await pool.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="50,000 subscribers (CI size)")
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--keep", action="store_true", help="keep the loaded data in a database of its own"
    )
    parser.add_argument(
        "--reuse", metavar="DB", help="run on a copy of a database kept by --keep (no loading)"
    )
    args = parser.parse_args()
    speed = python_speed_ms()
    log(f"machine: a fixed Python loop takes {speed} ms (see bench/procs.py)")
    url = os.environ["TART_DATABASE_URL"]
    template = args.reuse
    if args.keep and not template:
        # loaded once into a database of its own, left as loaded; every run works on a copy
        template = f"{DB}_loaded"
        kept_url = make_conninfo(url, dbname=template)
        ensure_database(kept_url)
        migrate(kept_url)
        load(kept_url, 50_000 if args.small else args.subscribers)
        log(f"kept database {template} (run again with --reuse {template})")
    if template:
        copy_database(url, template)
    else:
        ensure_database(url)
    try:
        migrate(url)  # a kept database gets the migrations written since it was loaded
        if template:
            sender, n, emails = loaded(url)
        else:
            n = 50_000 if args.small else args.subscribers
            sender, emails = load(url, n)
        result = asyncio.run(run(sender, emails, n, args.repeat, max(1000, n // 10)))
    finally:
        drop_database(url)
    result["python_loop_ms"] = speed
    print(json.dumps(result))


if __name__ == "__main__":
    main()
