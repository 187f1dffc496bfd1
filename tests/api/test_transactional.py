"""/v1/transactional through the ASGI app on a real database: repeat sends, non-subscribers,
suppression, payload checks (header injection, size caps), Idempotency-Key, the batch's
per-item answers, status read back, tenant isolation, view-in-browser data and erasure."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.public.links import render_send
from shared.events import repository as events
from shared.privacy.erasure import address_hash, erasure_key
from tests.api.conftest import Tenant

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
async def _nothing_left_to_send(pool: Any) -> AsyncIterator[None]:
    """The sends these tests queue are published to this run's vhost: cancel what is still
    queued, so a sender worker started by a later test does not send it to that test's peer."""
    yield
    async with pool.connection() as conn:
        await conn.execute("UPDATE sends SET state = 'cancelled' WHERE state = 'queued'")


RECEIPT = {
    "name": "Receipt",
    "transactional": True,
    "variations": [
        {
            "subject": "Order {{ data.order_id }}",
            "html_body": "<p>Hi {{ address }}, order <b>{{ data.order_id }}</b></p>",
        }
    ],
}


async def _email(t: Tenant, body: dict[str, Any] = RECEIPT) -> int:
    r = await t.client.post("/v1/emails", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _subscriber(t: Tenant, address: str) -> int:
    r = await t.client.post("/v1/subscribers", json={"address": address})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _send(t: Tenant, **body: Any) -> Any:
    return await t.client.post("/v1/transactional", json=body)


async def test_a_transactional_email_is_not_bulk_and_not_sent_in_bulk(tenant: Tenant) -> None:
    email_id = await _email(tenant)
    r = await tenant.client.get(f"/v1/emails/{email_id}")
    assert r.json()["transactional"] is True and r.json()["bulk"] is False
    r = await tenant.client.post(f"/v1/emails/{email_id}/send", json={})
    assert r.status_code == 409 and "transactional" in r.json()["detail"]


async def test_repeat_sends_and_non_subscribers(tenant: Tenant, conn: Any) -> None:
    email_id = await _email(tenant)
    sub_id = await _subscriber(tenant, "ada@example.org")
    ids = []
    for n in range(3):
        r = await _send(tenant, email_id=email_id, subscriber_id=sub_id, data={"order_id": n})
        assert r.status_code == 202, r.text
        ids.append(r.json()["send_id"])
    r = await _send(tenant, email_id=email_id, to="Nobody@Example.NET", data={"order_id": 9})
    assert r.status_code == 202, r.text
    ids.append(r.json()["send_id"])
    assert len(set(ids)) == 4
    # the subscriber's own address sends as that subscriber
    r = await _send(tenant, email_id=email_id, to="ada@example.org")
    assert r.status_code == 202
    rows = await (await conn.execute(
        "SELECT subscriber_id, address, transactional, state FROM sends WHERE email_id = %s"
        " ORDER BY id", (email_id,),
    )).fetchall()  # fmt: skip
    assert [r["subscriber_id"] for r in rows] == [sub_id] * 3 + [None, sub_id]
    assert rows[3]["address"] == "nobody@example.net"
    assert all(r["transactional"] for r in rows)
    found = await (await conn.execute(
        "SELECT count(*) AS n FROM subscribers WHERE address = 'nobody@example.net'"
    )).fetchone()  # fmt: skip
    assert found["n"] == 0

    status = await tenant.client.get(f"/v1/transactional/sends/{ids[3]}")
    assert status.status_code == 200
    body = status.json()
    # queued, unless the sender worker another test module started in this session took it
    assert (
        body["state"] in ("queued", "sending", "sent") and body["address"] == "nobody@example.net"
    )
    assert body["data"] == {"order_id": 9} and body["events"] == []
    recent = await tenant.client.get(f"/v1/emails/{email_id}/transactional-sends?limit=2")
    assert [s["id"] for s in recent.json()] == [ids[3] + 1, ids[3]]


async def test_bulk_emails_keep_one_send_per_subscriber(tenant: Tenant) -> None:
    email_id = await _email(tenant, {**RECEIPT, "transactional": False})
    sub_id = await _subscriber(tenant, "once@example.org")
    path = f"/v1/emails/{email_id}/send-to-subscriber"
    assert (await tenant.client.post(path, json={"subscriber_id": sub_id})).status_code == 202
    again = await tenant.client.post(path, json={"subscriber_id": sub_id})
    assert again.status_code == 409
    r = await _send(tenant, email_id=email_id, subscriber_id=sub_id)
    assert r.status_code == 409 and "not transactional" in r.json()["detail"]


@pytest.mark.parametrize("state", ["bounced", "complained"])
async def test_suppressed_subscribers_are_refused(tenant: Tenant, conn: Any, state: str) -> None:
    email_id = await _email(tenant)
    sub_id = await _subscriber(tenant, f"{state}@example.org")
    await conn.execute("UPDATE subscribers SET state = %s WHERE id = %s", (state, sub_id))
    await conn.commit()
    for body in ({"subscriber_id": sub_id}, {"to": f"{state}@example.org"}):
        r = await _send(tenant, email_id=email_id, **body)
        assert r.status_code == 410, r.text
        assert r.json() == {"error": "Gone", "detail": f"recipient is suppressed: {state}"}


async def test_unsubscribed_subscribers_still_get_transactional_mail(tenant: Tenant) -> None:
    email_id = await _email(tenant)
    sub_id = await _subscriber(tenant, "gone-from-news@example.org")
    r = await tenant.client.patch(f"/v1/subscribers/{sub_id}", json={"state": "unsubscribed"})
    assert r.status_code == 200, r.text
    assert (await _send(tenant, email_id=email_id, subscriber_id=sub_id)).status_code == 202


async def test_erasure_removes_the_data_and_suppresses_the_address(
    tenant: Tenant, conn: Any, settings: Any
) -> None:
    email_id = await _email(tenant)
    sub_id = await _subscriber(tenant, "erase-me@example.org")
    first = await _send(tenant, email_id=email_id, subscriber_id=sub_id, data={"secret": "s1"})
    # a send to the address before it was a subscriber's: erased too
    await tenant.client.delete(f"/v1/subscribers/{sub_id}")
    r = await _send(tenant, email_id=email_id, to="erase-me@example.org")
    assert r.status_code == 410 and r.json()["detail"] == "recipient is suppressed: erased"
    payloads = await (await conn.execute(
        "SELECT count(*) AS n FROM send_payloads WHERE send_id = %s", (first.json()["send_id"],)
    )).fetchone()  # fmt: skip
    assert payloads["n"] == 0
    key = erasure_key(settings)
    leftover = await (await conn.execute(
        "SELECT count(*) AS n FROM erased_addresses WHERE sender_id = %s AND address_hash = %s",
        (tenant.sender_id, address_hash(key, tenant.sender_id, "erase-me@example.org")),
    )).fetchone()  # fmt: skip
    assert leftover["n"] == 1
    text = await (await conn.execute("SELECT count(*) AS n FROM send_payloads p JOIN sends s"
                                     " ON s.id = p.send_id WHERE s.email_id = %s",
                                     (email_id,))).fetchone()  # fmt: skip
    assert text["n"] == 0


async def test_an_erased_non_subscriber_address_loses_its_sends_data(
    tenant: Tenant, conn: Any
) -> None:
    email_id = await _email(tenant)
    sent = await _send(tenant, email_id=email_id, to="later@example.org", data={"k": "v"})
    sub_id = await _subscriber(tenant, "later@example.org")
    assert (await tenant.client.delete(f"/v1/subscribers/{sub_id}")).status_code == 204
    row = await (await conn.execute(
        "SELECT s.address, p.send_id FROM sends s LEFT JOIN send_payloads p ON p.send_id = s.id"
        " WHERE s.id = %s", (sent.json()["send_id"],),
    )).fetchone()  # fmt: skip
    assert row == {"address": None, "send_id": None}


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({"X-Order": "1\r\nBcc: victim@example.com"}, 400, "BadRequest"),
        ({"Reply-To": "a@example.com\nBcc: v@example.com"}, 400, "BadRequest"),
        ({"Bcc": "victim@example.com"}, 422, "ValidationError"),
        ({"X-Tart-Token": "forged"}, 422, "ValidationError"),
        ({"Reply-To": "a@example.com, b@example.com"}, 422, "ValidationError"),
    ],
)
async def test_headers_outside_the_allow_list_or_with_line_breaks_are_refused(
    tenant: Tenant, headers: dict[str, str], status: int, error: str
) -> None:
    email_id = await _email(tenant)
    r = await _send(tenant, email_id=email_id, to="h@example.org", headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error


async def test_size_caps_and_bad_attachments(tenant: Tenant, settings: Any) -> None:
    email_id = await _email(tenant)
    big = "x" * settings.transactional_data_max_bytes
    r = await _send(tenant, email_id=email_id, to="d@example.org", data={"big": big})
    assert r.status_code == 413 and "data:" in r.json()["detail"]
    half = base64.b64encode(b"\0" * (settings.transactional_attachments_max_bytes // 2 + 1))
    files = [{"filename": f"f{i}.bin", "content_type": "application/octet-stream",
              "content": half.decode()} for i in range(2)]  # fmt: skip
    r = await _send(tenant, email_id=email_id, to="d@example.org", attachments=files)
    assert r.status_code == 413 and "attachments:" in r.json()["detail"]
    bad = [{"filename": "a.txt", "content_type": "text/plain", "content": "***"}]
    r = await _send(tenant, email_id=email_id, to="d@example.org", attachments=bad)
    assert r.status_code == 422 and "base64" in r.json()["detail"]
    bad = [{"filename": "../x\r\n.txt", "content_type": "text/plain", "content": "YQ=="}]
    r = await _send(tenant, email_id=email_id, to="d@example.org", attachments=bad)
    assert r.status_code == 422 and "filename" in r.json()["detail"]


async def test_idempotent_retries_send_once(tenant: Tenant, conn: Any) -> None:
    email_id = await _email(tenant)
    body = {"email_id": email_id, "to": "idem@example.org", "data": {"n": 1}}
    headers = {"Idempotency-Key": "receipt-1"}
    first = await tenant.client.post("/v1/transactional", json=body, headers=headers)
    again = await tenant.client.post("/v1/transactional", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await tenant.client.post(
        "/v1/transactional", json={**body, "data": {"n": 2}}, headers=headers
    )
    assert other.status_code == 422
    n = await (await conn.execute(
        "SELECT count(*) AS n FROM sends WHERE email_id = %s", (email_id,)
    )).fetchone()  # fmt: skip
    assert n["n"] == 1


async def test_the_batch_answers_each_message_on_its_own(
    tenant: Tenant, other: Tenant, conn: Any
) -> None:
    email_id = await _email(tenant)
    others_email = await _email(other)
    bounced = await _subscriber(tenant, "bounced-b@example.org")
    await conn.execute("UPDATE subscribers SET state = 'bounced' WHERE id = %s", (bounced,))
    await conn.commit()
    messages = [
        {"email_id": email_id, "to": "ok1@example.org", "data": {"n": 1}},
        {"email_id": email_id, "to": "not an address"},
        {"email_id": email_id, "subscriber_id": bounced},
        {"email_id": others_email, "to": "ok2@example.org"},
        {"email_id": email_id, "to": "x@example.org", "headers": {"X-A": "1\r\n"}},
        {"email_id": email_id, "bogus": True},
        {"email_id": email_id, "to": "ok3@example.org"},
    ]
    r = await tenant.client.post("/v1/transactional/batch", json={"messages": messages})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 2 and out["refused"] == 5
    codes = [item["status_code"] for item in out["results"]]
    assert codes == [202, 422, 410, 404, 400, 422, 202]
    assert [item["index"] for item in out["results"]] == list(range(7))
    ok = [item["send_id"] for item in out["results"] if item["send_id"]]
    rows = await (await conn.execute(
        "SELECT s.id, s.address, p.data FROM sends s JOIN send_payloads p ON p.send_id = s.id"
        " WHERE s.email_id = %s ORDER BY s.id", (email_id,),
    )).fetchall()  # fmt: skip
    assert [(r["id"], r["address"], r["data"]) for r in rows] == [
        (ok[0], "ok1@example.org", {"n": 1}),
        (ok[1], "ok3@example.org", {}),
    ]
    too_many = [{"email_id": email_id, "to": f"m{i}@example.org"} for i in range(501)]
    r = await tenant.client.post("/v1/transactional/batch", json={"messages": too_many})
    assert r.status_code == 422


async def test_tenants_are_isolated(tenant: Tenant, other: Tenant) -> None:
    email_id = await _email(tenant)
    sub_id = await _subscriber(tenant, "mine@example.org")
    r = await _send(other, email_id=email_id, to="x@example.org")
    assert r.status_code == 404
    mine = await _send(tenant, email_id=email_id, subscriber_id=sub_id)
    others_email = await _email(other)
    r = await _send(other, email_id=others_email, subscriber_id=sub_id)
    assert r.status_code == 404  # my subscriber is not theirs
    r = await other.client.get(f"/v1/transactional/sends/{mine.json()['send_id']}")
    assert r.status_code == 404
    r = await other.client.get(f"/v1/emails/{email_id}/transactional-sends")
    assert r.status_code == 404


async def test_view_in_browser_shows_the_sends_data(
    tenant: Tenant, conn: Any, settings: Any
) -> None:
    from shared.tokens import codec_from_settings_secrets

    email_id = await _email(tenant)
    r = await _send(tenant, email_id=email_id, to="viewer@example.org", data={"order_id": "Z9"})
    send_id = r.json()["send_id"]
    await conn.execute(
        "UPDATE sends SET variation_id = (SELECT id FROM variations WHERE email_id = %s)"
        " WHERE id = %s", (email_id, send_id),
    )  # fmt: skip
    context = await events.send_context(conn, send_id)
    assert context is not None
    token = codec_from_settings_secrets(
        [s.get_secret_value() for s in settings.token_secrets]
    ).encode(send_id)
    rendered = render_send(context, token)
    assert rendered is not None
    assert "<b>Z9</b>" in (rendered.html or "") and "viewer@example.org" in (rendered.html or "")
    assert rendered.subject == "Order Z9"
    assert rendered.plain is not None and "order Z9" in rendered.plain


async def test_layouts_crud_checks_and_isolation(tenant: Tenant, other: Tenant) -> None:
    r = await tenant.client.post("/v1/layouts", json={"name": "Default"})
    assert r.status_code == 201, r.text
    default = r.json()
    assert "{{ unsubscribe_url }}" in default["html_body"] and default["transactional"] is False
    r = await tenant.client.post(
        "/v1/layouts", json={"name": "Bare", "html_body": "<div>{{ content }}</div>",
                             "plain_body": "{{ content }}"},
    )  # fmt: skip
    assert r.status_code == 422 and "unsubscribe_url" in r.json()["detail"]
    r = await tenant.client.post(
        "/v1/layouts", json={"name": "Bare", "html_body": "<div>{{ content }}</div>",
                             "plain_body": "{{ content }}", "transactional": True},
    )  # fmt: skip
    assert r.status_code == 201
    bare = r.json()
    assert (await tenant.client.post("/v1/layouts", json={"name": "Bare"})).status_code == 409
    # a bulk email needs the unsubscribe link; a transactional one may use the bare layout
    r = await tenant.client.post("/v1/emails", json={**RECEIPT, "transactional": False,
                                                     "layout_id": bare["id"]})  # fmt: skip
    assert r.status_code == 422
    r = await tenant.client.post("/v1/emails", json={**RECEIPT, "layout_id": bare["id"]})
    assert r.status_code == 201 and r.json()["layout_id"] == bare["id"]
    r = await tenant.client.post("/v1/emails", json={**RECEIPT, "transactional": False,
                                                     "layout_id": default["id"]})  # fmt: skip
    assert r.status_code == 201
    bulk_email = r.json()["id"]
    r = await tenant.client.patch(f"/v1/layouts/{default['id']}", json={"transactional": True})
    assert r.status_code == 409  # a bulk email uses it
    # another sender sees and uses none of them
    assert (await other.client.get(f"/v1/layouts/{bare['id']}")).status_code == 404
    assert (await other.client.get("/v1/layouts")).json() == []
    r = await other.client.post("/v1/emails", json={**RECEIPT, "layout_id": bare["id"]})
    assert r.status_code == 422
    assert (await other.client.delete(f"/v1/layouts/{default['id']}")).status_code == 404
    assert (await tenant.client.delete(f"/v1/layouts/{default['id']}")).status_code == 204
    assert (await tenant.client.get(f"/v1/emails/{bulk_email}")).json()["layout_id"] is None


async def test_sender_settings_for_transactional_mail(tenant: Tenant) -> None:
    r = await tenant.client.patch(
        "/v1/sender",
        json={"postal_address": "1 Main St, Springfield", "transactional_rate_limited": False},
    )
    assert r.status_code == 200, r.text
    body = (await tenant.client.get("/v1/sender")).json()
    assert body["postal_address"] == "1 Main St, Springfield"
    assert body["transactional_rate_limited"] is False
