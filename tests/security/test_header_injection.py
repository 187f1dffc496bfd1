"""Header injection: CR/LF in a sender's name or reply-to, in a variation subject (API and admin),
and in a subscriber property a subject interpolates. Either refused at save time, or the
message built by the sender's composer carries no extra header."""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from services.sender.message import compose
from shared.sends import repository as sends
from tests.admin.conftest import AdminClient
from tests.conftest import unique_address
from tests.security.conftest import Tenant

INJECTIONS = [
    "News\r\nBcc: victim@example.net",
    "News\nX-Evil: 1",
    "News\rBcc: victim@example.net",
    "News\r\n\r\n<html>body</html>",
    "News\u2028Bcc: victim@example.net",
    "News\x85Bcc: victim@example.net",
]
ADDRESSES = [
    "help@example.com\r\nBcc: victim@example.net",
    "help@example.com\nX-Evil: 1",
    "help@example.com, victim@example.net",
]
EXPECTED_HEADERS = {
    "from", "to", "reply-to", "subject", "date", "message-id", "mime-version", "content-type",
    "content-transfer-encoding", "list-unsubscribe", "list-unsubscribe-post", "list-id",
    "feedback-id", "x-tart-token", "precedence", "auto-submitted", "x-auto-response-suppress",
    "dkim-signature",
}  # fmt: skip


def assert_no_injected_header(data: bytes) -> None:
    msg = message_from_bytes(data, policy=policy.default)
    names = {k.lower() for k in msg}
    assert "bcc" not in names and "x-evil" not in names, names
    assert names <= EXPECTED_HEADERS, names - EXPECTED_HEADERS
    assert msg.get_all("To") and len(msg.get_all("To")) == 1
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nX-Evil:" not in head


@pytest.mark.parametrize("value", INJECTIONS)
async def test_sender_name_with_line_breaks_is_refused_by_the_api(
    value: str, alice: Tenant
) -> None:
    r = await alice.client.patch("/v1/sender", json={"name": value})
    if "\r" in value or "\n" in value:
        assert r.status_code == 422, r.text
    else:  # a Unicode separator is not a header line break; it must not become one
        assert r.status_code in (200, 422), r.text
    assert (await alice.client.get("/v1/sender")).json()["name"] in ("News", value)


@pytest.mark.parametrize("value", ADDRESSES)
async def test_reply_to_with_line_breaks_or_lists_is_refused_by_the_api(
    value: str, alice: Tenant
) -> None:
    r = await alice.client.patch("/v1/sender", json={"reply_to": value})
    assert r.status_code == 422, r.text
    assert (await alice.client.get("/v1/sender")).json().get("reply_to") is None


@pytest.mark.parametrize("value", INJECTIONS[:4])
async def test_subject_with_line_breaks_is_refused_by_the_api(value: str, alice: Tenant) -> None:
    r = await alice.client.post(
        "/v1/emails", json={"name": "x", "variations": [{"subject": value, "plain_body": "b"}]}
    )
    assert r.status_code == 422, r.text
    email = (
        await alice.client.post(
            "/v1/emails", json={"name": "x", "variations": [{"subject": "ok", "plain_body": "b"}]}
        )
    ).json()
    var = email["variations"][0]["id"]
    r = await alice.client.patch(
        f"/v1/emails/{email['id']}/variations/{var}", json={"subject": value}
    )
    assert r.status_code == 422, r.text
    r = await alice.client.post(
        f"/v1/emails/{email['id']}/variations", json={"subject": value, "plain_body": "b"}
    )
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("field", ["name", "reply_to"])
async def test_sender_fields_with_line_breaks_are_refused_by_the_admin(
    field: str, owner: AdminClient, alice: Tenant, pool: AsyncConnectionPool
) -> None:
    value = INJECTIONS[0] if field == "name" else ADDRESSES[0]
    form = {
        "name": "News", "reply_to": "", "public_base_url": "https://links.example.com",
        "return_path_domain": "", "soft_bounce_limit": "3", field: value,
    }  # fmt: skip
    r = await owner.post(f"/senders/{alice.sender_id}", form)
    assert r.status_code in (400, 422), (r.status_code, r.text[:300])
    new = {**form, "address": unique_address()}
    r = await owner.post("/senders/new", new)
    assert r.status_code in (400, 422), (r.status_code, r.text[:300])
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT count(*) AS n FROM senders"
                " WHERE address = %s OR name = %s OR reply_to = %s",
                [new["address"], value, value],
            )
        ).fetchone()
    assert row is not None and row["n"] == 0


async def composed(
    pool: AsyncConnectionPool, t: Tenant, subject: str, props: dict[str, Any]
) -> bytes:
    """Save through the API, then render and build the message exactly as a send would."""
    email = await t.client.post(
        "/v1/emails", json={"name": "x", "variations": [{"subject": subject, "plain_body": "b"}]}
    )
    assert email.status_code == 201, email.text
    sub = await t.client.post(
        "/v1/subscribers", json={"address": unique_address(), "properties": props}
    )
    assert sub.status_code == 201, sub.text
    async with pool.connection() as conn:
        ctx = await sends.sender_context(conn, t.sender_id)
        variations = await sends.email_variations(conn, email.json()["id"])
    assert ctx is not None
    out = compose(
        ctx, variations[0], sub.json(), "tok", bulk=True, track_clicks=False,
        email_id=email.json()["id"],
    )  # fmt: skip
    return out.data


@pytest.mark.parametrize(
    "value",
    [
        "Ada\r\nBcc: victim@example.net",
        "Ada\nX-Evil: 1",
        "Ada\r\n\r\n<h1>body</h1>",
        "Ada\u2028Bcc: victim@example.net",
        "=?utf-8?q?Ada=0D=0ABcc=3A_victim=40example=2Enet?=",
    ],
)
async def test_a_property_interpolated_into_the_subject_adds_no_header(
    value: str, alice: Tenant, pool: AsyncConnectionPool
) -> None:
    data = await composed(pool, alice, "Hi {{ properties.name }}", {"name": value})
    assert_no_injected_header(data)
    msg = message_from_bytes(data, policy=policy.default)
    assert msg["Subject"].startswith("Hi ") and "\n" not in msg["Subject"]


async def test_a_unicode_separator_in_the_sender_name_adds_no_header(
    alice: Tenant, pool: AsyncConnectionPool
) -> None:
    r = await alice.client.patch("/v1/sender", json={"name": INJECTIONS[4]})
    if r.status_code == 200:
        assert_no_injected_header(await composed(pool, alice, "Hi", {}))
    else:
        assert r.status_code == 422


async def test_subject_with_line_breaks_is_refused_by_the_admin(
    owner: AdminClient, alice: Tenant, pool: AsyncConnectionPool
) -> None:
    email = (
        await alice.client.post(
            "/v1/emails", json={"name": "x", "variations": [{"subject": "ok", "plain_body": "b"}]}
        )
    ).json()
    var = email["variations"][0]["id"]
    base = f"/senders/{alice.sender_id}/emails/{email['id']}/variations"
    form = {"name": "B", "subject": INJECTIONS[0], "plain_body": "b", "weight": "1"}
    for path in (f"{base}/new", f"{base}/{var}"):
        r = await owner.post(path, form)
        assert r.status_code in (400, 422), (path, r.status_code, r.text[:300])
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT count(*) AS n FROM variations WHERE email_id = %s AND subject <> 'ok'",
                [email["id"]],
            )
        ).fetchone()
    assert row is not None and row["n"] == 0
