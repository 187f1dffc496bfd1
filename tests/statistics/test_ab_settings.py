"""The A/B test's minimum sample is set per campaign, through the API and the admin alike, and
checked the same way by both."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from shared.campaigns.abtest import MAX_MIN_SENDS
from shared.senders import repository as senders
from tests.admin.conftest import AdminClient, make_sender


async def _min_sends(pool: AsyncConnectionPool, email_id: int) -> int | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT ab_min_sends FROM campaigns WHERE email_id = %s ORDER BY id DESC LIMIT 1",
            [email_id],
        )
        row = await cur.fetchone()
    assert row is not None
    return row["ab_min_sends"]  # type: ignore[no-any-return]


async def _audience(pool: AsyncConnectionPool, sender_id: int) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO subscribers (sender_id, address) SELECT %s,"
            " 'ab' || g || '-' || %s || '@example.com' FROM generate_series(1, 10) g",
            [sender_id, sender_id],
        )


async def test_the_api_takes_a_minimum_per_campaign(
    pool: AsyncConnectionPool, api_app: FastAPI
) -> None:
    sender_id = await make_sender(pool)
    await _audience(pool, sender_id)
    async with pool.connection() as conn:
        key, _row = await senders.create_api_key(conn, sender_id, "ab")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app), base_url="http://api.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as api:  # fmt: skip
        variations = [{"name": n, "subject": n, "plain_body": n} for n in ("A", "B")]
        email = (await api.post("/v1/emails", json={"name": "AB", "variations": variations})).json()
        for bad in (0, MAX_MIN_SENDS + 1, 2.5):
            ab = {"share": 0.5, "wait_minutes": 60, "min_sends": bad}
            response = await api.post(f"/v1/emails/{email['id']}/send", json={"ab": ab})
            assert response.status_code == 422 and "min_sends" in response.text, bad
        ab = {"share": 0.5, "wait_minutes": 60, "metric": "open", "min_sends": 7}
        response = await api.post(f"/v1/emails/{email['id']}/send", json={"ab": ab})
        assert response.status_code == 202, response.text
    assert await _min_sends(pool, email["id"]) == 7


async def test_the_admin_takes_a_minimum_per_campaign(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await make_sender(pool)
    await _audience(pool, sender_id)
    created = await owner.post(f"/senders/{sender_id}/emails/new", {"name": "AB"})
    base = created.headers["location"].split("/variations")[0]
    for name in ("A", "B"):
        added = await owner.post(
            f"{base}/variations/new",
            {"name": name, "subject": name, "plain_body": name, "active": "on"},
        )
        assert added.status_code == 303
    page = await owner.client.get(f"{base}/send")
    assert 'name="ab_min_sends"' in page.text and 'value="100"' in page.text
    form = {"ab": "on", "ab_share": "50", "ab_wait_minutes": "60", "ab_metric": "click"}
    bad = await owner.post(f"{base}/send/confirm", {**form, "ab_min_sends": "0"})
    assert bad.status_code == 400 and 'id="e-ab_min_sends"' in bad.text
    confirm = await owner.post(f"{base}/send/confirm", {**form, "ab_min_sends": "9"})
    assert confirm.status_code == 200 and "at least 9 sends per variation" in confirm.text
    queued = await owner.post(f"{base}/send/queue", {**form, "ab_min_sends": "9"})
    assert queued.status_code == 303, queued.text
    assert await _min_sends(pool, int(base.rsplit("/", 1)[1])) == 9
