"""The property-filtered list looks for its page in a window of the next rows first; whether
the window fills the page or the GIN plan answers, the pages are the same."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from shared.filters import compile_filter, parse_filter
from shared.subscribers import listing
from tests.sender.conftest import make_sender


def _sender(sync_conn: Any) -> int:
    return int(make_sender(sync_conn)["id"])


def _compiled(text: str) -> Any:
    parsed = parse_filter(text)
    assert parsed is not None
    return compile_filter(parsed)


async def _all_pages(pool: Any, q: listing.SubscriberQuery) -> list[int]:
    ids: list[int] = []
    async with pool.connection() as conn:
        while True:
            rows, more = await listing.list_page(conn, q)
            ids += [r["id"] for r in rows]
            if not more:
                return ids
            q.after = (None, rows[-1]["id"])


async def test_pages_match_the_plain_query_for_common_and_rare_matches(
    pool: Any, sync_conn: Any
) -> None:
    sender_id = _sender(sync_conn)
    # 3,000 rows: "common" on every 3rd (fills a window), "rare" on 3 rows far apart.
    sync_conn.execute(
        "INSERT INTO subscribers (sender_id, address, properties)"
        " SELECT %s, 'w' || g || '@example.org',"
        "        jsonb_build_object('plan', CASE WHEN g %% 3 = 0 THEN 'common' ELSE 'other' END,"
        "                           'tag', CASE WHEN g IN (7, 1500, 2999) THEN 'rare' END)"
        " FROM generate_series(1, 3000) g",
        (sender_id,),
    )
    rows = sync_conn.execute(
        "SELECT id, properties FROM subscribers WHERE sender_id = %s ORDER BY id", (sender_id,)
    ).fetchall()
    for text, key, value in (
        ('plan = "common"', "plan", "common"),
        ('tag = "rare"', "tag", "rare"),
    ):
        expected = [r["id"] for r in rows if r["properties"].get(key) == value]
        by_filter = listing.SubscriberQuery(sender_id, filter_sql=_compiled(text), limit=7)
        by_contains = listing.SubscriberQuery(sender_id, contains={key: value}, limit=7)
        assert await _all_pages(pool, by_filter) == expected
        assert await _all_pages(pool, by_contains) == expected
    assert len([r for r in rows if r["properties"]["plan"] == "common"]) == 1000


async def test_window_query_keeps_every_other_condition(pool: Any, sync_conn: Any) -> None:
    sender_id = _sender(sync_conn)
    sync_conn.execute(
        "INSERT INTO subscribers (sender_id, address, locale, properties)"
        " SELECT %s, 'l' || g || '@example.org', CASE WHEN g %% 2 = 0 THEN 'tr_TR' ELSE 'C' END,"
        "        %s FROM generate_series(1, 400) g",
        (sender_id, Jsonb({"plan": "pro"})),
    )
    q = listing.SubscriberQuery(sender_id, contains={"plan": "pro"}, locales=["tr_TR"], limit=10)
    async with pool.connection() as conn:
        rows, more = await listing.list_page(conn, q)
    assert more and len(rows) == 10
    assert {r["locale"] for r in rows} == {"tr_TR"}
