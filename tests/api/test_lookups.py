"""One lookup of an email per request: the routes that used to read the same email two or three
times (the route, then each service it called) read it once and pass the row on. A change of
state also locks the row (SELECT ... FOR UPDATE), which is counted apart."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Tenant, email_body
from tests.conftest import unique_address
from tests.fixtures.lookups import lookups  # noqa: F401 - the fixture


async def test_api_routes_read_the_email_once(
    tenant: Tenant,
    lookups: list[str],  # noqa: F811
) -> None:
    c = tenant.client
    created = (await c.post("/v1/emails", json=email_body())).json()
    eid, vid = created["id"], created["variations"][0]["id"]
    await c.put("/v1/subscribers", json={"address": unique_address(), "locale": "C"})
    calls: list[tuple[str, str, dict[str, Any] | None, int]] = [
        ("PATCH", f"/v1/emails/{eid}", {"name": "Renamed"}, 200),
        ("GET", f"/v1/emails/{eid}/variations/{vid}/preview", None, 200),
        ("POST", f"/v1/emails/{eid}/test-send", {"variation_id": vid, "address": "t@example.com"},
         202),
        ("POST", f"/v1/emails/{eid}/send", {"locales": []}, 202),
        ("POST", f"/v1/emails/{eid}/pause", None, 200),
        ("POST", f"/v1/emails/{eid}/resume", None, 200),
        ("GET", f"/v1/emails/{eid}/progress", None, 200),
        ("GET", f"/v1/emails/{eid}/statistics", None, 200),
    ]  # fmt: skip
    for method, url, body, status in calls:
        lookups.clear()
        response = await c.request(method, url, json=body)
        assert response.status_code == status, (url, response.text)
        assert lookups.count("read") + lookups.count("lock") <= 1, (url, lookups)
