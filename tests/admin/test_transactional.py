"""Admin: layouts, marking an email transactional with a layout, and its recent sends."""

from __future__ import annotations

import re

from psycopg_pool import AsyncConnectionPool

from shared.db import transaction
from shared.transactional import service
from tests.admin.conftest import AdminClient, make_sender


def _id_from(location: str, after: str) -> int:
    match = re.search(re.escape(after) + r"/(\d+)", location)
    assert match, location
    return int(match.group(1))


async def test_layouts_transactional_email_and_recent_sends(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await make_sender(pool)
    other_id = await make_sender(pool)
    layouts = f"/senders/{sender_id}/layouts"
    form = await owner.client.get(f"{layouts}/new")
    assert form.status_code == 200 and "{{ unsubscribe_url }}" in form.text
    refused = await owner.post(
        f"{layouts}/new",
        {"name": "Bare", "html_body": "<div>{{ content }}</div>", "plain_body": "{{ content }}"},
    )
    assert refused.status_code == 400 and "unsubscribe_url" in refused.text
    created = await owner.post(
        f"{layouts}/new",
        {"name": "Bare", "html_body": "<div>{{ content }}</div>", "plain_body": "{{ content }}",
         "transactional": "on"},
    )  # fmt: skip
    assert created.status_code == 303, created.text
    layout_id = _id_from(created.headers["location"], "/layouts")
    assert "Bare" in (await owner.client.get(layouts)).text
    assert (await owner.client.get(f"/senders/{other_id}/layouts/{layout_id}")).status_code == 404

    emails = f"/senders/{sender_id}/emails"
    bulk = await owner.post(f"{emails}/new", {"name": "News", "layout_id": str(layout_id)})
    assert bulk.status_code == 400 and "unsubscribe link" in bulk.text
    created = await owner.post(
        f"{emails}/new",
        {"name": "Receipt", "transactional": "on", "layout_id": str(layout_id)},
    )
    assert created.status_code == 303, created.text
    email_id = _id_from(created.headers["location"], "/emails")
    variation = await owner.post(
        f"{emails}/{email_id}/variations/new",
        {"name": "A", "subject": "Order {{ data.order }}", "active": "on",
         "html_body": "<p>Order {{ data.order }}</p>"},
    )  # fmt: skip
    assert variation.status_code == 303
    async with transaction(pool) as tx:
        await service.queue_send(
            tx.conn, sender_id=sender_id, email_id=email_id, to="buyer@example.org",
            data={"order": "A-77"},
        )  # fmt: skip
    page = await owner.client.get(f"{emails}/{email_id}")
    assert page.status_code == 200
    assert 'id="transactional-sends"' in page.text and 'id="bulk-send"' not in page.text
    assert "buyer@example.org" in page.text and "A-77" in page.text and "queued" in page.text
    assert f'<option value="{layout_id}" selected>' in page.text


async def test_sender_settings_postal_address_and_transactional_rate(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await make_sender(pool)
    page = await owner.client.get(f"/senders/{sender_id}")
    assert 'name="postal_address"' in page.text and 'name="transactional_rate_limited"' in page.text
    saved = await owner.post(
        f"/senders/{sender_id}",
        {"name": "News", "public_base_url": "https://links.example.com",
         "return_path_domain": "bounces.example.com", "soft_bounce_limit": "3",
         "soft_bounce_days": "30", "postal_address": "1 Main St, Springfield"},
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    async with pool.connection() as conn:
        row = await (await conn.execute(
            "SELECT postal_address, transactional_rate_limited FROM senders WHERE id = %s",
            [sender_id],
        )).fetchone()  # fmt: skip
    assert row["postal_address"] == "1 Main St, Springfield"
    assert row["transactional_rate_limited"] is False  # the box was left unchecked


async def test_the_preview_shows_the_email_in_its_layout(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    """The variation preview renders inside the email's layout, with the sender's postal
    address, as the sender worker and view in browser do (shared/rendering message_layout)."""
    sender_id = await make_sender(pool)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE senders SET postal_address = '1 Harbour Road, Izmir' WHERE id = %s",
            (sender_id,),
        )
    created = await owner.post(
        f"/senders/{sender_id}/layouts/new",
        {"name": "Framed",
         "html_body": "<div>{{ content }}</div><a href='{{ unsubscribe_url }}'>Leave</a>",
         "plain_body": "FRAMED\n{{ content }}\n{{ postal_address }} {{ unsubscribe_url }}"},
    )  # fmt: skip
    assert created.status_code == 303, created.text
    layout_id = _id_from(created.headers["location"], "/layouts")
    emails = f"/senders/{sender_id}/emails"
    created = await owner.post(f"{emails}/new", {"name": "News", "layout_id": str(layout_id)})
    assert created.status_code == 303, created.text
    email_id = _id_from(created.headers["location"], "/emails")
    preview = await owner.post(
        f"{emails}/{email_id}/preview",
        {"subject": "S", "html_body": "<p>Hi {{ properties.name }}</p>",
         "plain_body": "Hi {{ properties.name }}", "preview_properties": '{"name": "Ada"}'},
    )  # fmt: skip
    assert preview.status_code == 200, preview.text
    plain = re.search(r'<pre id="preview-plain">(.*?)</pre>', preview.text, re.DOTALL)
    assert plain is not None, preview.text
    assert plain.group(1).startswith("FRAMED\nHi Ada\n1 Harbour Road, Izmir https://")
    html = re.search(r'srcdoc="([^"]*)"', preview.text)
    assert html is not None and "&lt;div&gt;&lt;p&gt;Hi Ada&lt;/p&gt;&lt;/div&gt;" in html.group(1)
