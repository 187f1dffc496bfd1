"""Every page family through httpx: forms, inline errors, escaping, tenant checks."""

from __future__ import annotations

import json
import re

import psycopg
from psycopg_pool import AsyncConnectionPool

from tests.admin.conftest import AdminClient, make_sender
from tests.conftest import unique_address


def _id_from(location: str, after: str) -> int:
    match = re.search(after + r"/(\d+)", location)
    assert match, location
    return int(match.group(1))


async def test_create_sender_with_inline_errors_then_key_and_dkim(
    owner: AdminClient, sync_conn: psycopg.Connection[dict]
) -> None:
    bad = await owner.post(
        "/senders/new",
        {"address": "not an address", "name": "News\r\nBcc: x", "public_base_url": "ftp://x"},
    )
    assert bad.status_code == 400
    assert "not a valid email address" in bad.text and "must be one line" in bad.text
    address = unique_address("news")
    ok = await owner.post(
        "/senders/new",
        {"address": address, "name": "News", "public_base_url": "https://links.example.com"},
    )
    assert ok.status_code == 303
    sender_id = _id_from(ok.headers["location"], "/senders")
    page = await owner.client.get(f"/senders/{sender_id}")
    assert page.status_code == 200 and address in page.text
    key = await owner.post(f"/senders/{sender_id}/keys", {"key_name": "ci"})
    shown = re.search(r'id="new-api-key">(tart_[^<]+)<', key.text)
    assert shown, "the new key is shown once"
    assert shown.group(1) not in (await owner.client.get(f"/senders/{sender_id}")).text
    dkim = await owner.post(
        f"/senders/{sender_id}/dkim", {"selector": "s1", "algorithm": "ed25519-sha256"}
    )
    assert dkim.status_code == 303
    page = await owner.client.get(f"/senders/{sender_id}")
    assert f"s1._domainkey.{address.split('@')[1]}" in page.text
    assert "v=DKIM1; k=ed25519; p=" in page.text
    saved = await owner.post(
        f"/senders/{sender_id}",
        {"name": "News", "public_base_url": "https://links.example.com",
         "return_path_domain": "example.com", "rate_per_second": "abc",
         "soft_bounce_limit": "3", "soft_bounce_days": "30"},
    )  # fmt: skip
    assert saved.status_code == 400 and "must be a whole number" in saved.text
    saved = await owner.post(
        f"/senders/{sender_id}",
        {"name": "News", "public_base_url": "https://links.example.com",
         "return_path_domain": "example.com", "rate_per_second": "20", "rate_per_hour": "",
         "soft_bounce_limit": "4", "soft_bounce_days": "10"},
    )  # fmt: skip
    assert saved.status_code == 303
    row = sync_conn.execute(
        "SELECT rate_per_second, soft_bounce_limit, soft_bounce_window FROM senders WHERE id = %s",
        [sender_id],
    ).fetchone()
    assert row is not None and row["rate_per_second"] == 20 and row["soft_bounce_limit"] == 4
    wrong = await owner.post(f"/senders/{sender_id}/delete", {"confirm": "nope"})
    assert wrong.status_code == 400
    gone = await owner.post(f"/senders/{sender_id}/delete", {"confirm": address})
    assert gone.status_code == 303
    assert (await owner.client.get(f"/senders/{sender_id}")).status_code == 404


async def test_subscribers_search_filter_escape_and_export(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await make_sender(pool)
    base = f"/senders/{sender_id}/subscribers"
    xss = '<script>alert("x")</script>'
    created = await owner.post(
        f"{base}/new",
        {"address": "ada@example.com", "locale": "en_US",
         "properties": json.dumps({"plan": "pro", "name": xss})},
    )  # fmt: skip
    assert created.status_code == 303
    await owner.post(f"{base}/new", {"address": "bob@example.com", "locale": "tr_TR"})
    dup = await owner.post(f"{base}/new", {"address": "ada@example.com"})
    assert dup.status_code == 400 and "already has this subscriber" in dup.text
    bad = await owner.post(f"{base}/new", {"address": "x@example.com", "properties": "[1]"})
    assert bad.status_code == 400 and "must be a JSON object" in bad.text
    page = await owner.client.get(base)
    assert "ada@example.com" in page.text and "bob@example.com" in page.text
    assert xss not in page.text and "\\u003cscript" in page.text
    only_pro = await owner.client.get(base, params={"filter": 'plan = "pro"'})
    assert "ada@example.com" in only_pro.text and "bob@example.com" not in only_pro.text
    by_locale = await owner.client.get(base, params={"locale": "tr_TR"})
    assert "bob@example.com" in by_locale.text and "ada@example.com" not in by_locale.text
    broken = await owner.client.get(base, params={"filter": 'plan = "'})
    assert broken.status_code == 400 and 'id="e-filter"' in broken.text
    export = await owner.client.get(f"{base}.csv", params={"q": "ad"})
    assert export.status_code == 200
    lines = export.text.strip().splitlines()
    assert lines[0].startswith("address,") and len(lines) == 2 and "ada@example.com" in lines[1]
    # a cell a spreadsheet would run as a formula is quoted
    await owner.post(f"{base}/new", {"address": "=1+2@example.com"})
    formula = await owner.client.get(f"{base}.csv", params={"q": "="})
    assert formula.text.strip().splitlines()[1].startswith("'=1+2@example.com,")


async def test_keyset_pages(owner: AdminClient, pool: AsyncConnectionPool) -> None:
    sender_id = await make_sender(pool)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO subscribers (sender_id, address) "
            "SELECT %s, 'p' || g || '@example.com' FROM generate_series(1, 120) g",
            [sender_id],
        )
    base = f"/senders/{sender_id}/subscribers"
    first = await owner.client.get(base)
    nxt = re.search(r'href="\?([^"]*after=\d+)" id="next-page"', first.text)
    assert nxt
    second = await owner.client.get(base + "?" + nxt.group(1).replace("&amp;", "&"))
    first_ids = set(re.findall(r"/subscribers/(\d+)\"", first.text))
    second_ids = set(re.findall(r"/subscribers/(\d+)\"", second.text))
    assert len(first_ids) == 50 and len(second_ids) == 50 and not first_ids & second_ids


async def test_email_variations_preview_and_errors(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await make_sender(pool)
    base = f"/senders/{sender_id}/emails"
    bad = await owner.post(f"{base}/new", {"name": "", "locales": "english"})
    assert bad.status_code == 400 and "required" in bad.text and "not a locale" in bad.text
    created = await owner.post(f"{base}/new", {"name": "Launch", "locales": "en_US, tr_TR"})
    email_id = _id_from(created.headers["location"], "/emails")
    broken = await owner.post(
        f"{base}/{email_id}/variations/new", {"subject": "Hi", "html_body": "{% if %}"}
    )
    assert broken.status_code == 400 and "line 1" in broken.text
    for name in ("A", "B"):
        ok = await owner.post(
            f"{base}/{email_id}/variations/new",
            {"name": name, "subject": f"Hello {name} {{{{ properties.name }}}}", "active": "on",
             "html_body": "<p style='color:red'>Hi {{ properties.name }}</p>",
             "plain_body": "Hi {{ properties.name }}"},
        )  # fmt: skip
        assert ok.status_code == 303
    preview = await owner.post(
        f"{base}/{email_id}/preview",
        {"subject": "S {{ properties.name }}", "html_body": "<b>{{ properties.name }}</b>",
         "plain_body": "P", "preview_properties": json.dumps({"name": '"><img src=x>'})},
    )  # fmt: skip
    assert preview.status_code == 200
    # the HTML goes into a sandboxed iframe's srcdoc, escaped once for the attribute
    assert '<iframe id="preview-html" sandbox' in preview.text
    assert "<img src=x>" not in preview.text
    page = await owner.client.get(f"{base}/{email_id}")
    assert page.text.count("/variations/") >= 2
    listing = await owner.client.get(base)
    assert "Launch" in listing.text
    send_page = await owner.client.get(f"{base}/{email_id}/send")
    assert send_page.status_code == 200 and 'id="audience-total"' in send_page.text
    stats = await owner.client.get(f"/senders/{sender_id}/statistics/{email_id}")
    assert stats.status_code == 200


async def test_other_senders_email_is_404(owner: AdminClient, pool: AsyncConnectionPool) -> None:
    a = await make_sender(pool)
    b = await make_sender(pool)
    created = await owner.post(f"/senders/{a}/emails/new", {"name": "Mine"})
    email_id = _id_from(created.headers["location"], "/emails")
    assert (await owner.client.get(f"/senders/{b}/emails/{email_id}")).status_code == 404
    assert (await owner.client.get(f"/senders/{b}/emails/{email_id}/send")).status_code == 404
    huge = await owner.client.get(f"/senders/{a}/emails/99999999999999999999999")
    assert huge.status_code == 404
