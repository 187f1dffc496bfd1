"""Benchmark of the admin pages over a large subscriber list, on a scratch database.

Figures (milliseconds, p50 and p95 over --repeat requests, through the ASGI app in-process):
first page, a page deep in the list (keyset), address search, locale + state filter, property
filter, the dashboard (counts per sender over every row), and CSV export throughput.

    .venv/bin/python bench/admin.py              # 1,000,000 subscribers
    .venv/bin/python bench/admin.py --quick      # 100,000 subscribers

Prints human lines, then one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DB = f"tart_bench_admin_{uuid.uuid4().hex[:8]}"
os.environ["TART_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{DB}"
os.environ.setdefault("TART_ENV", "dev")
os.environ.setdefault("TART_LOG_LEVEL", "warning")

import httpx  # noqa: E402
import psycopg  # noqa: E402

from services.admin.app import create_app  # noqa: E402
from shared.admins.repository import password_hasher  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.migrate import drop_database, ensure_database, migrate  # noqa: E402

PASSWORD = "bench password 123"


def setup(url: str, rows: int) -> tuple[int, int]:
    ensure_database(url)
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        sender = conn.execute(
            "INSERT INTO senders (address, name, public_base_url, return_path_domain) VALUES"
            " ('news@bench.example.com', 'Bench', 'https://l.example.com', 'bench.example.com')"
            " RETURNING id"
        ).fetchone()
        assert sender is not None
        t = time.perf_counter()
        conn.execute(
            "INSERT INTO subscribers (sender_id, address, locale, properties, state)"
            " SELECT %s, 'user' || g || '@example.com',"
            " (ARRAY['C','en_US','tr_TR','de_DE'])[1 + g %% 4],"
            " jsonb_build_object('plan', (ARRAY['free','pro','team'])[1 + g %% 3],"
            "                    'country', (ARRAY['TR','DE','FR','US','GB'])[1 + g %% 5]),"
            " (ARRAY['active','active','active','unsubscribed','bounced']::subscriber_state[])"
            "   [1 + g %% 5]"
            " FROM generate_series(1, %s) g",
            [sender[0], rows],
        )
        conn.execute("ANALYZE subscribers")
        print(f"loaded {rows:,} subscribers in {time.perf_counter() - t:.1f}s")
        conn.execute(
            "INSERT INTO admin_users (email, password_hash, role) VALUES (%s, %s, 'owner')",
            ["bench@example.com", password_hasher.hash(PASSWORD)],
        )
        last = conn.execute(
            "SELECT id FROM subscribers WHERE sender_id = %s ORDER BY id DESC OFFSET 100 LIMIT 1",
            [sender[0]],
        ).fetchone()
        assert last is not None
        return int(sender[0]), int(last[0])


async def timed(client: httpx.AsyncClient, url: str, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        response = await client.get(url)
        samples.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


async def run(rows: int, repeat: int) -> dict[str, float]:
    sender_id, deep_after = setup(os.environ["TART_DATABASE_URL"], rows)
    app = create_app(get_settings())
    results: dict[str, float] = {"rows": rows}
    async with app.router.lifespan_context(app):
        await app.state.pool.wait(timeout=10)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
            page = await client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token
            login = await client.post(
                "/login",
                data={"email": "bench@example.com", "password": PASSWORD,
                      "csrf_token": token.group(1)},
            )  # fmt: skip
            assert login.status_code == 303
            base = f"/senders/{sender_id}/subscribers"
            cases = {
                "first_page": base,
                "deep_page": f"{base}?after={deep_after}",
                "address_search": f"{base}?q=user12345",
                "locale_state": f"{base}?locale=tr_TR&state=bounced",
                "property_filter": f"{base}?filter=" + 'plan = "team" and country = "FR"',
                "dashboard": "/",
            }
            for name, url in cases.items():
                p50, p95 = await timed(client, url, repeat if name != "dashboard" else 3)
                results[f"{name}_p50_ms"] = round(p50, 1)
                results[f"{name}_p95_ms"] = round(p95, 1)
                print(f"{name:16} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms")
            t = time.perf_counter()
            size = 0
            async with client.stream("GET", f"{base}.csv") as response:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
            elapsed = time.perf_counter() - t
            results["export_rows_per_s"] = round(rows / elapsed)
            print(f"export           {rows / elapsed:,.0f} rows/s ({size / 1e6:.0f} MB)")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    try:
        results = asyncio.run(run(rows, args.repeat))
    finally:
        drop_database(os.environ["TART_DATABASE_URL"])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
