"""The API and the admin agree on limits (shared/limits.py): each refuses the same out-of-range
values with an error naming the field, and accepts the values at the limits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from shared import limits
from tests.admin.conftest import AdminClient, make_sender
from tests.api.conftest import Tenant, api_app, tenant  # noqa: F401 - the API's fixtures

AB = {"ab": "on", "ab_share": "20", "ab_wait_minutes": "60", "ab_metric": "click"}
# (what, API bulk-send body, admin bulk-send form, the admin field that shows the error)
OUT_OF_RANGE = [
    ("A/B share too small", {"ab": {"share": limits.AB_SHARE_MIN / 2, "wait_minutes": 60}},
     {**AB, "ab_share": "0"}, "ab_share"),
    ("A/B share too large", {"ab": {"share": 1.0, "wait_minutes": 60}},
     {**AB, "ab_share": "100"}, "ab_share"),
    ("A/B wait too short", {"ab": {"share": 0.2, "wait_minutes": limits.AB_WAIT_MINUTES_MIN - 1}},
     {**AB, "ab_wait_minutes": str(limits.AB_WAIT_MINUTES_MIN - 1)}, "ab_wait_minutes"),
    ("A/B wait too long", {"ab": {"share": 0.2, "wait_minutes": limits.AB_WAIT_MINUTES_MAX + 1}},
     {**AB, "ab_wait_minutes": str(limits.AB_WAIT_MINUTES_MAX + 1)}, "ab_wait_minutes"),
    ("max count too large", {"max_count": limits.MAX_COUNT_MAX + 1},
     {"max_count": str(limits.MAX_COUNT_MAX + 1)}, "max_count"),
]  # fmt: skip
AT_THE_LIMITS = [
    ({"ab": {"share": limits.AB_SHARE_MIN, "wait_minutes": limits.AB_WAIT_MINUTES_MIN}},
     {**AB, "ab_share": "1", "ab_wait_minutes": str(limits.AB_WAIT_MINUTES_MIN)}),
    ({"ab": {"share": limits.AB_SHARE_MAX, "wait_minutes": limits.AB_WAIT_MINUTES_MAX},
      "max_count": limits.MAX_COUNT_MAX},
     {**AB, "ab_share": "99", "ab_wait_minutes": str(limits.AB_WAIT_MINUTES_MAX),
      "max_count": str(limits.MAX_COUNT_MAX)}),
]  # fmt: skip
TWO_VARIATIONS = {
    "name": "A/B",
    "variations": [
        {"name": "A", "subject": "A", "plain_body": "A"},
        {"name": "B", "subject": "B", "plain_body": "B"},
    ],
}


async def _api_email(tenant: Tenant) -> int:  # noqa: F811
    await tenant.client.put("/v1/subscribers", json={"address": "a@example.com"})
    return int((await tenant.client.post("/v1/emails", json=TWO_VARIATIONS)).json()["id"])


async def _admin_email(owner: AdminClient, pool: AsyncConnectionPool) -> str:
    sender_id = await make_sender(pool)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO subscribers (sender_id, address) VALUES (%s, 'a@example.com')", [sender_id]
        )
    base = (
        (await owner.post(f"/senders/{sender_id}/emails/new", {"name": "A/B"}))
        .headers["location"]
        .split("/variations")[0]
    )
    for name in ("A", "B"):
        await owner.post(
            f"{base}/variations/new", {"subject": name, "plain_body": name, "active": "on"}
        )
    return base


@pytest.mark.parametrize(("what", "body", "form", "field"), OUT_OF_RANGE, ids=lambda v: str(v))
async def test_both_refuse_the_same_out_of_range_values(
    what: str,
    body: dict[str, Any],
    form: dict[str, str],
    field: str,
    tenant: Tenant,  # noqa: F811
    owner: AdminClient,
    pool: AsyncConnectionPool,
) -> None:
    eid = await _api_email(tenant)
    api = await tenant.client.post(f"/v1/emails/{eid}/send", json=body)
    assert api.status_code == 422, (what, api.text)
    assert api.json()["error"] == "ValidationError"
    assert api.json()["detail"].startswith(("ab.share", "ab.wait_minutes", "max_count")), api.text

    base = await _admin_email(owner, pool)
    admin = await owner.post(f"{base}/send/confirm", form)
    assert admin.status_code == 400, (what, admin.text[:300])
    error = re.search(rf'<p class="error" id="e-{field}">([^<]+)</p>', admin.text)
    assert error and "must be between" in error.group(1), admin.text[-2000:]


@pytest.mark.parametrize(("body", "form"), AT_THE_LIMITS)
async def test_both_accept_the_values_at_the_limits(
    body: dict[str, Any],
    form: dict[str, str],
    tenant: Tenant,  # noqa: F811
    owner: AdminClient,
    pool: AsyncConnectionPool,
) -> None:
    eid = await _api_email(tenant)
    api = await tenant.client.post(f"/v1/emails/{eid}/send", json=body)
    assert api.status_code == 202, api.text
    base = await _admin_email(owner, pool)
    admin = await owner.post(f"{base}/send/confirm", form)
    assert admin.status_code == 200 and 'id="planned"' in admin.text, admin.text[-2000:]


@pytest.mark.parametrize("value", [0, limits.MAX_ID + 1, 2**64])
async def test_both_refuse_ids_out_of_range(
    value: int,
    tenant: Tenant,  # noqa: F811
    owner: AdminClient,
    pool: AsyncConnectionPool,
) -> None:
    api = await tenant.client.get(f"/v1/emails/{value}")
    assert api.status_code == 422 and api.json()["detail"].startswith("path.email_id"), api.text
    sender_id = await make_sender(pool)
    for path in (f"/senders/{value}", f"/senders/{sender_id}/emails/{value}"):
        admin = await owner.client.get(path)
        assert admin.status_code == 404 and "no such" in admin.text, (path, admin.text[-500:])


async def test_the_largest_id_is_in_range_for_both(
    tenant: Tenant,  # noqa: F811
    owner: AdminClient,
    pool: AsyncConnectionPool,
) -> None:
    """MAX_ID itself reaches the database (and finds nothing) on both sides."""
    api = await tenant.client.get(f"/v1/emails/{limits.MAX_ID}")
    assert api.status_code == 404, api.text
    sender_id = await make_sender(pool)
    admin = await owner.client.get(f"/senders/{sender_id}/emails/{limits.MAX_ID}")
    assert admin.status_code == 404 and "not found" in admin.text, admin.text[-500:]
