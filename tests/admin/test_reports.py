"""Imports, bounces with their originals, DMARC and TLS pages, inbound review, users, and the
CSRF field on every form, through httpx against the ASGI app."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from shared.admins import repository as admins
from tests.admin.conftest import AdminClient, make_sender


async def _sender_domain(pool: AsyncConnectionPool, sender_id: int) -> str:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT address FROM senders WHERE id = %s", [sender_id])
        row = await cur.fetchone()
    assert row is not None
    return str(row["address"]).split("@")[1]


async def _inbound(pool: AsyncConnectionPool, raw: bytes, kind: str = "unknown") -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO inbound_messages (sha256, raw, size, source, state, kind) "
            "VALUES (%s, %s, %s, 'pipe', 'parsed', %s) RETURNING id",
            [hashlib.sha256(raw + uuid.uuid4().bytes).digest(), raw, len(raw), kind],
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def test_every_form_carries_a_csrf_token(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await make_sender(pool)
    created = await owner.post(f"/senders/{sender_id}/emails/new", {"name": "E"})
    email_path = created.headers["location"].split("/variations")[0]
    for path in ("/", "/account", "/senders/new", f"/senders/{sender_id}", "/users",
                 f"/senders/{sender_id}/subscribers/new", f"/senders/{sender_id}/imports",
                 f"/senders/{sender_id}/emails/new", email_path + "/variations/new",
                 email_path + "/send"):  # fmt: skip
        page = await owner.client.get(path)
        assert page.status_code == 200, path
        assert 'name="csrf_token" value=""' not in page.text, path
        for form in re.findall(r'<form method="post".*?</form>', page.text, re.S):
            assert f'name="csrf_token" value="{owner.csrf}"' in form, (path, form[:80])


async def test_csv_import_reports_bad_lines(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict[str, Any]]
) -> None:
    sender_id = await make_sender(pool)
    body = (
        "address,locale,plan\nada@example.com,en_US,pro\nnot-an-address,C,x\nbo@example.com,xx,y\n"
    )
    none = await owner.client.post(f"/senders/{sender_id}/imports", data={"csrf_token": owner.csrf})
    assert none.status_code == 400 and "choose a CSV file" in none.text
    started = await owner.client.post(
        f"/senders/{sender_id}/imports",
        data={"csrf_token": owner.csrf},
        files={"file": ("people.csv", body.encode(), "text/csv")},
    )
    assert started.status_code == 303
    job_url = started.headers["location"]
    for _ in range(100):
        page = await owner.client.get(job_url, headers={"HX-Request": "true"})
        if 'data-state="finished"' in page.text:
            break
        await asyncio.sleep(0.1)
    assert 'data-state="finished"' in page.text
    assert "1 imported, 2 with errors" in page.text.replace("rows read, ", "")
    assert "not a valid email address" in page.text
    rows = sync_conn.execute(
        "SELECT address, properties FROM subscribers WHERE sender_id = %s", [sender_id]
    ).fetchall()
    assert [r["address"] for r in rows] == ["ada@example.com"]


async def test_bounce_detail_shows_the_escaped_original_and_is_tenant_scoped(
    owner: AdminClient, member: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await make_sender(pool)
    inbound_id = await _inbound(pool, b"From: mailer-daemon\r\n\r\nbounce", "bounce")
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO response_reports (inbound_id, sender_id, kind, recipient, hard_or_soft,"
            " status, reason, original, headers) VALUES (%s, %s, 'bounce', 'gone@example.com',"
            " 'hard', '5.1.1', 'user_unknown', %s, %s) RETURNING id",
            [inbound_id, sender_id, "Subject: <b>hi</b>\r\n\r\n<script>x()</script>",
             Jsonb([["Received", "a"], ["Received", "b"]])],
        )  # fmt: skip
        row = await cur.fetchone()
    assert row is not None
    listing = await owner.client.get(f"/senders/{sender_id}/bounces")
    assert "gone@example.com" in listing.text and "user_unknown" in listing.text
    detail = await owner.client.get(f"/senders/{sender_id}/reports/{row['id']}")
    assert detail.status_code == 200
    assert "&lt;script&gt;x()&lt;/script&gt;" in detail.text and "<script>x()" not in detail.text
    headers = re.findall(r'<th>(\w+)</th><td class="break">(\w)</td>', detail.text)
    assert headers == [("Received", "a"), ("Received", "b")]  # duplicates kept, in order
    other = await make_sender(pool)
    assert (await owner.client.get(f"/senders/{other}/reports/{row['id']}")).status_code == 404
    assert (await member.client.get(f"/senders/{sender_id}/reports/{row['id']}")).status_code == 404
    dashboard = await owner.client.get("/")
    assert "gone@example.com" in dashboard.text


async def test_dmarc_pages(
    owner: AdminClient, member: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await make_sender(pool, f"d{uuid.uuid4().hex[:8]}.example.net")
    domain = await _sender_domain(pool, sender_id)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO dmarc_aggregate_reports (org_name, report_id, domain, begin_at, end_at,"
            " message_count, pass_count) VALUES ('google.com', %s, %s, now() - interval '1 day',"
            " now(), 10, 7) RETURNING id",
            [uuid.uuid4().hex, domain],
        )
        report = await cur.fetchone()
        assert report is not None
        await conn.execute(
            "INSERT INTO dmarc_aggregate_records (report_id, source_ip, message_count,"
            " dkim_aligned, spf_aligned, passed) VALUES (%s, '192.0.2.7', 7, true, true, true),"
            " (%s, '198.51.100.9', 3, false, false, false)",
            [report["id"], report["id"]],
        )
        await conn.execute(
            "INSERT INTO tls_reports (organization_name, report_id, policies, success_count,"
            " failure_count) VALUES ('Microsoft', %s, %s, 40, 2)",
            [uuid.uuid4().hex,
             Jsonb([{"policy": {"policy-type": "sts", "policy-domain": domain}}])],
        )  # fmt: skip
    page = await owner.client.get(f"/senders/{sender_id}/dmarc")
    assert page.status_code == 200
    assert "198.51.100.9" in page.text and "google.com" in page.text and "Microsoft" in page.text
    assert f'"{domain} passed", "data": [7]' in page.text
    assert f'"{domain} failed", "data": [3]' in page.text
    assert 'data-chart="data-dmarc"' in page.text
    detail = await owner.client.get(f"/senders/{sender_id}/dmarc/{report['id']}")
    assert detail.status_code == 200 and "192.0.2.7" in detail.text
    other = await make_sender(pool)
    resp = await owner.client.get(f"/senders/{other}/dmarc/{report['id']}")
    assert resp.status_code == 404
    assert "198.51.100.9" not in (await owner.client.get(f"/senders/{other}/dmarc")).text
    assert (await member.client.get("/dmarc")).status_code == 404
    everything = await owner.client.get("/dmarc")
    assert "198.51.100.9" in everything.text
    dashboard = await owner.client.get("/")
    assert domain in dashboard.text and "70.0%" in dashboard.text


async def test_inbound_review_and_reprocess(
    owner: AdminClient, member: AdminClient, pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict[str, Any]],
) -> None:  # fmt: skip
    inbound_id = await _inbound(pool, b"Subject: <i>what is this</i>\r\n\r\nhello")
    listing = await owner.client.get("/inbound")
    assert f"/inbound/{inbound_id}" in listing.text
    detail = await owner.client.get(f"/inbound/{inbound_id}")
    assert "&lt;i&gt;what is this&lt;/i&gt;" in detail.text
    assert (await member.client.get(f"/inbound/{inbound_id}")).status_code == 404
    no_csrf = await owner.client.post(f"/inbound/{inbound_id}/reprocess")
    assert no_csrf.status_code == 403
    done = await owner.post(f"/inbound/{inbound_id}/reprocess")
    assert done.status_code == 303
    state = sync_conn.execute(
        "SELECT state FROM inbound_messages WHERE id = %s", [inbound_id]
    ).fetchone()
    assert state is not None and state["state"] == "stored"


async def test_owner_manages_users(owner: AdminClient, pool: AsyncConnectionPool) -> None:
    sender_id = await make_sender(pool)
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    bad = await owner.post("/users", {"email": "nope", "role": "member"})
    assert bad.status_code == 400 and "not a valid email address" in bad.text
    created = await owner.post("/users", {"email": email, "role": "member"})
    assert created.status_code == 200 and 'id="new-password"' in created.text
    async with pool.connection() as conn:
        user = await admins.find_user_by_email(conn, email)
    assert user is not None and user["role"] == "member"
    saved = await owner.client.post(
        f"/users/{user['id']}",
        data={"csrf_token": owner.csrf, "role": "member", "sender_ids": [str(sender_id)]},
    )
    assert saved.status_code == 303
    async with pool.connection() as conn:
        assert await admins.can_see_sender(conn, user["id"], False, sender_id)
    self_demote = await owner.post(f"/users/{owner.user_id}", {"role": "member"})
    assert self_demote.status_code == 400
    removed = await owner.post(f"/users/{user['id']}/delete")
    assert removed.status_code == 303


async def test_bulk_send_form_errors_are_inline(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await make_sender(pool)
    created = await owner.post(f"/senders/{sender_id}/emails/new", {"name": "E"})
    base = created.headers["location"].split("/variations")[0]
    bad = await owner.post(
        f"{base}/send/confirm",
        {"filter": "plan = ", "max_count": "-1", "locales": "xx", "ab": "on", "ab_share": "150"},
    )
    assert bad.status_code == 400
    for message in ("not a locale", "must be between 1", 'id="e-filter"'):
        assert message in bad.text
    nobody = await owner.post(f"{base}/send/confirm", {})
    assert nobody.status_code == 400 and "nobody matches" in nobody.text
    paused = await owner.post(f"{base}/pause")
    assert paused.status_code == 409 and "only a sending email pauses" in paused.text
    audience = await owner.post(f"{base}/audience", {"filter": "a ="})
    assert audience.status_code == 200 and 'class="error"' in audience.text
