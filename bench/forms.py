"""Benchmark of joining a list, on a scratch database.

Figures: hosted-form submissions a second through the public app in-process (each one: body
read and checks, the throttle counters in their own transaction, the subscriber insert and its
consent record; a form without double opt-in or welcome email, so nothing is published), and
the purge of pending subscribers who never confirmed (rows a second, in batches of 5,000).

    .venv/bin/python bench/forms.py            # 5,000 submissions, 200,000 pending to purge
    .venv/bin/python bench/forms.py --quick    # 500 submissions, 20,000 pending to purge

Prints human lines, then one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DB = f"tart_bench_forms_{uuid.uuid4().hex[:8]}"
os.environ["TART_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{DB}"
os.environ.setdefault("TART_ENV", "dev")
os.environ.setdefault("TART_LOG_LEVEL", "warning")

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench import procs  # noqa: E402
from services.public.app import create_app  # noqa: E402
from services.public.forms import form_token  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.db import create_pool  # noqa: E402
from shared.migrate import drop_database, ensure_database, migrate  # noqa: E402
from shared.optin import service as optin  # noqa: E402


def setup(url: str, pending: int) -> tuple[int, int]:
    ensure_database(url)
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        sender = conn.execute(
            "INSERT INTO senders (address, name, public_base_url, return_path_domain) VALUES"
            " ('news@bench.example.com', 'Bench', 'https://l.example.com', 'bench.example.com')"
            " RETURNING id"
        ).fetchone()
        assert sender is not None
        form = conn.execute(
            "INSERT INTO forms (sender_id, name, fields, double_opt_in) "
            "VALUES (%s, 'Bench', '{first_name}', false) RETURNING id",
            [sender[0]],
        ).fetchone()
        assert form is not None
        conn.execute(
            "INSERT INTO subscribers (sender_id, address, state, state_changed_at)"
            " SELECT %s, 'pending' || g || '@example.com', 'pending', now() - interval '30 days'"
            " FROM generate_series(1, %s) g",
            [sender[0], pending],
        )
        conn.execute(
            "INSERT INTO confirmations (sender_id, subscriber_id)"
            " SELECT sender_id, id FROM subscribers WHERE state = 'pending'"
        )
        conn.execute("VACUUM ANALYZE subscribers")
    return int(sender[0]), int(form[0])


async def run(submissions: int, pending: int) -> dict[str, float]:
    settings = get_settings().model_copy(
        update={"form_min_submit_seconds": 0.0, "form_max_per_ip_hour": 10**9}
    )
    _sender_id, form_id = setup(settings.database_url, pending)
    results: dict[str, float] = {"submissions": submissions, "pending": pending}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            ts = form_token(settings, form_id)
            started = time.perf_counter()
            for i in range(submissions):
                answer = await client.post(
                    f"/f/{form_id}",
                    data={"email": f"v{i}@example.org", "first_name": "Ada", "ts": ts},
                )
                assert answer.status_code == 200, answer.text[:200]
            elapsed = time.perf_counter() - started
    results["submit_per_s"] = round(submissions / elapsed, 1)
    print(f"form submissions   {submissions / elapsed:8.1f} /s  ({submissions} in {elapsed:.1f} s)")
    pool = create_pool(settings, name="bench", max_size=2)
    await pool.open(wait=True)
    try:
        started = time.perf_counter()
        purged = await optin.purge_pending(pool, settings.optin_purge_days)
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    assert purged == pending, (purged, pending)
    results["purge_rows_per_s"] = round(purged / elapsed)
    print(f"purge of pending   {purged / elapsed:8,.0f} rows/s  ({purged:,} in {elapsed:.1f} s)")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=5_000)
    parser.add_argument("--pending", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="500 submissions, 20,000 pending")
    args = parser.parse_args()
    submissions, pending = (500, 20_000) if args.quick else (args.submissions, args.pending)
    speed = procs.python_speed_ms()
    print(f"machine: a fixed Python loop takes {speed} ms (see bench/procs.py)", flush=True)
    try:
        results = asyncio.run(run(submissions, pending))
    finally:
        drop_database(os.environ["TART_DATABASE_URL"])
    results["python_loop_ms"] = speed
    print(json.dumps(results))


if __name__ == "__main__":
    main()
