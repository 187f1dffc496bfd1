"""The admin's subscriber page shows the consent history, sends and events; it downloads the
GDPR export and erases (with consent records naming the admin user)."""

from __future__ import annotations

import psycopg
from psycopg_pool import AsyncConnectionPool

from tests.admin.conftest import AdminClient, make_sender
from tests.conftest import unique_address


async def test_admin_subscriber_page_consent_export_and_erase(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    sender_id = await make_sender(pool)
    base = f"/senders/{sender_id}/subscribers"
    address = unique_address("admin-added")
    created = await owner.post(f"{base}/new", {"address": address, "locale": "C"})
    assert created.status_code == 303, created.text
    sub = int(created.headers["location"].split("/")[-1].split("?")[0])
    saved = await owner.post(
        f"{base}/{sub}", {"locale": "tr_TR", "state": "unsubscribed", "properties": "{}"}
    )
    assert saved.status_code == 303
    page = await owner.client.get(f"{base}/{sub}")
    assert page.status_code == 200
    assert 'id="consent"' in page.text
    section = page.text.split('id="consent"')[1].split("</section>")[0]
    assert section.count("<tr>") == 3  # header, subscribe, unsubscribe
    assert "subscribe</td><td>admin</td><td>" + str(owner.user_id) in section
    exported = await owner.client.get(f"{base}/{sub}/export.json")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    assert exported.json()["subscriber"]["address"] == address
    assert [c["action"] for c in exported.json()["consent"]] == ["subscribe", "unsubscribe"]

    # erase needs the CSRF token like every admin form
    refused = await owner.client.post(f"{base}/{sub}/erase")
    assert refused.status_code == 403
    erased = await owner.post(f"{base}/{sub}/erase")
    assert erased.status_code == 303
    assert (await owner.client.get(f"{base}/{sub}")).status_code == 404
    rows = sync_conn.execute(
        "SELECT action, source, source_ref, subscriber_id FROM consent_records"
        " WHERE sender_id = %s ORDER BY id",
        (sender_id,),
    ).fetchall()
    assert [(r["action"], r["source"], r["source_ref"]) for r in rows] == [
        ("subscribe", "admin", str(owner.user_id)),
        ("unsubscribe", "admin", str(owner.user_id)),
        ("erase_request", "admin", str(owner.user_id)),
    ]
    assert all(r["subscriber_id"] is None for r in rows)


async def test_admin_retention_settings(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    sender_id = await make_sender(pool)
    url = f"/senders/{sender_id}/retention"
    assert (await owner.client.get(url)).status_code == 200
    bad = await owner.post(url, {"events_days": "0", "inbound_days": "", "webhook_days": "x"})
    assert bad.status_code == 400 and "must be between 1 and 36500" in bad.text
    saved = await owner.post(url, {"events_days": "90", "inbound_days": "", "webhook_days": "30"})
    assert saved.status_code == 303
    row = sync_conn.execute(
        "SELECT retention_events_days, retention_inbound_days, retention_webhook_days"
        " FROM senders WHERE id = %s",
        (sender_id,),
    ).fetchone()
    assert tuple(row.values()) == (90, None, 30)
    assert (await owner.client.post(url, data={"events_days": "5"})).status_code == 403  # no CSRF
