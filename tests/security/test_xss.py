"""XSS: subscriber properties and email bodies holding markup are escaped in the admin pages
(the HTML preview only inside an attribute-escaped sandboxed srcdoc), and the public pages
escape the sender name and subscriber values in their chrome while /v/ shows the sender's own
HTML as sent."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable

from psycopg_pool import AsyncConnectionPool

from tests.admin.conftest import AdminClient
from tests.conftest import unique_address
from tests.public.conftest import Public
from tests.public.world import World
from tests.security.conftest import Tenant

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
RAW = [SCRIPT, IMG, "<svg onload=alert(1)>"]


def assert_escaped(text: str) -> None:
    for payload in RAW:
        assert payload not in text, payload
    assert "onerror=alert(1)>" not in text
    # the escaped form is there, so the data was rendered (the test can fail)


async def test_admin_subscriber_pages_escape_properties(owner: AdminClient, alice: Tenant) -> None:
    address = unique_address()
    r = await alice.client.post(
        "/v1/subscribers",
        json={"address": address, "properties": {"name": SCRIPT, "city": IMG, SCRIPT: "k"}},
    )
    assert r.status_code == 201, r.text
    sub = r.json()["id"]
    listing = await owner.client.get(f"/senders/{alice.sender_id}/subscribers")
    assert listing.status_code == 200 and address in listing.text
    assert_escaped(listing.text)
    detail = await owner.client.get(f"/senders/{alice.sender_id}/subscribers/{sub}")
    assert detail.status_code == 200
    assert_escaped(detail.text)
    assert "&lt;script&gt;" in detail.text or "\\u003cscript" in detail.text


async def test_admin_email_pages_escape_bodies_and_sandbox_the_preview(
    owner: AdminClient, alice: Tenant
) -> None:
    body = f"<p>hi</p>{SCRIPT}<a href='x'>{IMG}</a>"
    r = await alice.client.post(
        "/v1/emails",
        json={
            "name": SCRIPT,
            "variations": [{"name": IMG, "subject": SCRIPT, "plain_body": IMG, "html_body": body}],
        },
    )
    assert r.status_code == 201, r.text
    email, var = r.json()["id"], r.json()["variations"][0]["id"]
    base = f"/senders/{alice.sender_id}/emails"
    for path in (base, f"{base}/{email}", f"{base}/{email}/variations/{var}"):
        page = await owner.client.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.text)
        assert "&lt;script&gt;" in page.text, path
    preview = await owner.post(
        f"{base}/{email}/preview",
        {
            "variation_id": str(var),
            "subject": SCRIPT,
            "plain_body": IMG,
            "html_body": body,
            "preview_properties": json.dumps({"name": SCRIPT}),
        },
    )
    assert preview.status_code == 200, preview.text[:300]
    frames = re.findall(r"<iframe[^>]*>", preview.text)
    assert frames, preview.text[:500]
    for frame in frames:
        assert re.search(r"\ssandbox[\s=>]", frame) and 'sandbox="allow-scripts' not in frame
    outside = re.sub(r"<iframe[^>]*>", "", preview.text)
    assert_escaped(outside)
    srcdoc = re.search(r'srcdoc="([^"]*)"', frames[0])
    assert srcdoc and SCRIPT in html.unescape(srcdoc.group(1))


async def test_public_view_shows_the_html_as_sent_and_escapes_properties(
    public: Public, world: World
) -> None:
    email, var = world.email(
        html=f"<html><body>{SCRIPT}<p>{{{{ properties.name }}}}</p></body></html>"
    )
    sub = world.subscriber(name=IMG)
    token = public.token(world.send(sub, email_id=email, variation_id=var))
    r = await public.client.get(f"/v/{token}")
    assert r.status_code == 200
    assert SCRIPT in r.text  # the sender's own HTML is the email
    assert IMG not in r.text and "&gt;&lt;img src=x onerror=alert(1)&gt;" in r.text


async def test_public_chrome_escapes_the_sender_name_and_subscriber_values(
    public: Public, world_factory: Callable[..., World]
) -> None:
    w = world_factory(name=SCRIPT)
    email, var = w.email(html=None, plain="Hello {{ properties.name }}\n")
    sub = w.subscriber(name=SCRIPT)
    token = public.token(w.send(sub, email_id=email, variation_id=var))
    view = await public.client.get(f"/v/{token}")
    assert view.status_code == 200
    assert SCRIPT not in view.text and "&lt;script&gt;" in view.text
    unsub = await public.client.get(f"/u/{token}")
    assert unsub.status_code == 200
    assert SCRIPT not in unsub.text and "&lt;script&gt;" in unsub.text


async def test_api_json_is_not_html(alice: Tenant, pool: AsyncConnectionPool) -> None:
    """Payloads come back as JSON with a JSON content type (a browser will not render them)."""
    r = await alice.client.post(
        "/v1/subscribers", json={"address": unique_address(), "properties": {"x": SCRIPT}}
    )
    assert r.headers["content-type"].startswith("application/json")
    assert json.loads(r.text)["properties"]["x"] == SCRIPT


async def test_admin_sender_pages_escape_the_sender_name(owner: AdminClient, alice: Tenant) -> None:
    r = await alice.client.patch("/v1/sender", json={"name": SCRIPT + IMG})
    assert r.status_code == 200, r.text
    for path in ("/", "/senders", f"/senders/{alice.sender_id}"):
        page = await owner.client.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.text)
    page = await owner.client.get(f"/senders/{alice.sender_id}")
    assert "&lt;script&gt;" in page.text
