"""The property signature behind the filtered list (db/0070): every write path leaves each row's
``property_bits`` equal to what its properties give, and a list that skips rows by it returns,
page by page, exactly the rows a plain scan with the same filter returns."""

from __future__ import annotations

from typing import Any

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from shared.filters import compile_filter, parse_filter
from shared.subscribers import listing
from shared.subscribers.bits import property_bits
from tests.api.conftest import Tenant
from tests.conftest import unique_address

# Each filter, and whether it requires a string or boolean pair the list can skip rows by.
FILTERS = [
    ('plan = "pro"', True),
    ('plan = "pro" and country = "TR"', True),
    ("vip = true", True),
    ('vip = false and plan = "free"', True),
    ('plan = "pro" and (country = "DE" or not exists country)', True),
    ('name = "Zoë 🎉" and plan = "pro"', True),
    ('plan = "pro" and plan = "free"', True),  # matches nothing
    ('plan = "pro" or country = "TR"', False),
    ("score = 3", False),  # numbers are left out of the signature
    ('not plan = "pro"', False),
]


async def _write_every_way(tenant: Tenant) -> None:
    c = tenant.client
    plans, countries = ["pro", "free", "trial"], ["TR", "DE", "FR"]
    rows = [
        {
            "address": unique_address(f"bulk{i}"),
            "properties": {"plan": plans[i % 3], "country": countries[i % 3 - 1], "vip": i % 2 == 0}
            | ({"score": 3} if i % 4 == 0 else {}),
        }
        for i in range(30)
    ]
    assert (await c.post("/v1/subscribers/bulk", json={"subscribers": rows})).status_code == 200
    rows[0]["properties"] = {"plan": "free"}  # the bulk path's update changes the signature
    assert (await c.post("/v1/subscribers/bulk", json={"subscribers": rows[:1]})).status_code == 200
    for i in range(6):
        body = {"address": unique_address(f"one{i}"), "properties": {"plan": plans[i % 3]}}
        assert (await c.post("/v1/subscribers", json=body)).status_code == 201
        body["properties"] = {"plan": "pro", "name": "Zoë 🎉", "vip": i % 2 == 1}
        assert (await c.put("/v1/subscribers", json=body)).status_code == 200
    page = (await c.get("/v1/subscribers", params={"limit": 6})).json()["items"]
    for i, item in enumerate(page):
        patch = {"merge_properties": {"country": "TR", "plan": None}} if i % 2 else {}
        patch |= {"properties": {"plan": "pro", "country": "DE"}} if i % 3 == 0 else {}
        if patch:
            r = await c.patch(f"/v1/subscribers/{item['id']}", json=patch)
            assert r.status_code == 200, r.text
    csv = "address,plan,country\n" + "".join(
        f"{unique_address(f'csv{i}')},{plans[i % 3]},{countries[i % 2]}\n" for i in range(40)
    )
    r = await c.post(
        "/v1/subscribers/imports", content=csv.encode(), headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 201 and r.json()["imported_rows"] == 40, r.text


async def test_every_write_path_keeps_the_signature_and_lists_match_a_plain_scan(
    tenant: Tenant, pool: AsyncConnectionPool
) -> None:
    await _write_every_way(tenant)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n, count(*) FILTER"
            " (WHERE property_bits <> property_bits(properties)) AS stale"
            " FROM subscribers WHERE sender_id = %s",
            [tenant.sender_id],
        )
        counts = await cur.fetchone()
    assert counts is not None and counts["n"] == 30 + 6 + 40 and counts["stale"] == 0
    for text, skips in FILTERS:
        parsed = parse_filter(text)
        _, params = listing.build(listing.SubscriberQuery(tenant.sender_id, filter=parsed))
        assert ("bits" in params) == skips, text
        expected = await _plain_scan(pool, tenant.sender_id, text)
        assert await _listed(tenant, {"filter": text}) == expected, text
    # the list's plain containment test takes the same shortcut
    expected = await _plain_scan(pool, tenant.sender_id, 'plan = "pro" and vip = true')
    query = listing.SubscriberQuery(tenant.sender_id, contains={"plan": "pro", "vip": True})
    async with pool.connection() as conn:
        rows, more = await listing.list_page(conn, query)
    assert [row["id"] for row in rows] == expected and expected and not more


async def _listed(tenant: Tenant, params: dict[str, Any]) -> list[int]:
    """Every page, three rows at a time, so the signature walk resumes after a cursor."""
    ids: list[int] = []
    cursor = None
    while True:
        query = {**params, "limit": 3} | ({"cursor": cursor} if cursor else {})
        r = await tenant.client.get("/v1/subscribers", params=query)
        assert r.status_code == 200, r.text
        ids += [item["id"] for item in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return ids


async def _plain_scan(pool: AsyncConnectionPool, sender_id: int, text: str) -> list[int]:
    parsed = parse_filter(text)
    assert parsed is not None
    query = sql.SQL("SELECT id FROM subscribers WHERE sender_id = %s AND {} ORDER BY id").format(
        compile_filter(parsed)
    )
    async with pool.connection() as conn:
        cur = await conn.execute(query, [sender_id])
        return [row["id"] for row in await cur.fetchall()]


def test_python_and_sql_signatures_agree(sync_conn: psycopg.Connection[Any]) -> None:
    text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
    value = st.one_of(
        text, st.booleans(), st.integers(), st.none(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(text, max_size=2), st.dictionaries(text, text, max_size=2),
    )  # fmt: skip

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.dictionaries(text, value, max_size=6))
    def agree(properties: dict[str, Any]) -> None:
        row = sync_conn.execute("SELECT property_bits(%s) AS b", [Jsonb(properties)]).fetchone()
        assert row is not None and row["b"] == property_bits(properties), properties

    agree()
    # bit 63 makes the bigint negative on both sides
    for n in range(2000):
        properties = {"k": f"v{n}"}
        if property_bits(properties) < 0:
            break
    else:
        raise AssertionError("no pair set bit 63")
    row = sync_conn.execute("SELECT property_bits(%s) AS b", [Jsonb(properties)]).fetchone()
    assert row is not None and row["b"] == property_bits(properties) < 0
