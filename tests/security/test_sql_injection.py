"""SQL injection through the sort key and the cursor of the API list endpoints: hostile values
are a 4xx (never a 500), never show another sender's rows, and the table is still there."""

from __future__ import annotations

import base64
import json

import psycopg
import pytest

from tests.conftest import unique_address
from tests.security.conftest import Tenant

ORDER_BY = [
    "id; DROP TABLE subscribers",
    "created_at DESC, (SELECT 1)",
    "id DESC",
    "(SELECT address FROM subscribers)",
    "address",
    "created_at/**/",
    "1",
    "id\x00",
]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CURSORS = [
    b64(b"1; DROP TABLE subscribers"),
    b64(json.dumps(["x", "1; DROP TABLE subscribers --"]).encode()),
    b64(json.dumps(["1 OR 1=1", 1]).encode()),
    b64(json.dumps([0, "0) OR (1=1"]).encode()),
    b64(json.dumps([None, -1]).encode()),
    b64(json.dumps([None, 2**63]).encode()),
    b64(json.dumps([None, 1.5]).encode()),
    b64(json.dumps({"id": 1}).encode()),
    "' OR '1'='1",
    "%27%3B%20DROP%20TABLE%20subscribers%3B--",
    "!!!not-base64!!!",
]
TIMESTAMP_CURSORS = [
    b64(json.dumps(["2026-01-01'; DROP TABLE subscribers; --", 1]).encode()),
    b64(json.dumps(["now() OR 1=1", 1]).encode()),
    b64(json.dumps([12345, 1]).encode()),
]


def table_exists(sync_conn: psycopg.Connection[dict]) -> bool:
    row = sync_conn.execute("SELECT to_regclass('public.subscribers') AS t").fetchone()
    return row is not None and row["t"] is not None


@pytest.mark.parametrize("order_by", ORDER_BY)
async def test_sort_key_injection_is_unprocessable(
    order_by: str, alice: Tenant, mallory: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    await mallory.client.post("/v1/subscribers", json={"address": unique_address()})
    r = await alice.client.get("/v1/subscribers", params={"order_by": order_by})
    assert r.status_code in (400, 422), (r.status_code, r.text[:200])
    assert mallory.address.split("@")[1] not in r.text
    assert table_exists(sync_conn)


@pytest.mark.parametrize(
    "order_by,cursor",
    [("id", c) for c in CURSORS]
    + [(o, c) for o in ("created_at", "updated_at") for c in TIMESTAMP_CURSORS + CURSORS[:4]],
)
async def test_forged_cursors_are_bad_requests(
    order_by: str, cursor: str, alice: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    await alice.client.post("/v1/subscribers", json={"address": unique_address()})
    r = await alice.client.get("/v1/subscribers", params={"order_by": order_by, "cursor": cursor})
    assert r.status_code in (400, 422), (r.status_code, r.text[:200])
    assert table_exists(sync_conn)


@pytest.mark.parametrize(
    "path", ["/v1/emails", "/v1/bounces", "/v1/complaints", "/v1/dmarc/reports"]
)
@pytest.mark.parametrize("cursor", CURSORS[:4] + CURSORS[8:])
async def test_forged_cursors_on_other_lists(path: str, cursor: str, alice: Tenant) -> None:
    r = await alice.client.get(path, params={"cursor": cursor})
    assert r.status_code in (400, 422), (path, r.status_code, r.text[:200])


@pytest.mark.parametrize("order_by", ["id", "created_at", "updated_at"])
async def test_a_cursor_from_another_sender_shows_only_my_rows(
    order_by: str, alice: Tenant, mallory: Tenant
) -> None:
    """Cursors are not tied to a sender (they only hold a sort value and an id), so Mallory's
    cursor is a position, never a key to her rows: Alice still sees only her own."""
    for _ in range(3):
        await mallory.client.post("/v1/subscribers", json={"address": unique_address()})
    mine = {
        (await alice.client.post("/v1/subscribers", json={"address": unique_address()})).json()[
            "id"
        ]
        for _ in range(3)
    }
    page = (
        await mallory.client.get("/v1/subscribers", params={"order_by": order_by, "limit": 1})
    ).json()
    assert page["next_cursor"]
    r = await alice.client.get(
        "/v1/subscribers", params={"order_by": order_by, "cursor": page["next_cursor"]}
    )
    assert r.status_code in (200, 400), r.text[:200]
    if r.status_code == 200:
        ids = {row["id"] for row in r.json()["items"]}
        assert ids <= mine, (ids, mine)
        assert mallory.address.split("@")[1] not in r.text


async def test_injection_in_filter_values_and_prefix_match_literally(
    alice: Tenant, mallory: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    await mallory.client.post("/v1/subscribers", json={"address": unique_address()})
    for params in (
        {"address_prefix": "' OR 1=1 --"},
        {"address_prefix": "%"},
        {"locale": "en_US' OR '1'='1"},
        {"filter": 'plan = "x\' OR 1=1 --"'},
        {"state": "active'; DROP TABLE subscribers; --"},
    ):
        r = await alice.client.get("/v1/subscribers", params=params)
        assert r.status_code in (200, 400, 422), (params, r.status_code, r.text[:200])
        if r.status_code == 200:
            assert r.json()["items"] == [], params
        assert mallory.address.split("@")[1] not in r.text
    assert table_exists(sync_conn)
