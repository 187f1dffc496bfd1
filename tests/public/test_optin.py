# ruff: noqa: RUF001 - Turkish text
"""Double opt-in end to end without a browser: the confirmation mail through a real SMTP peer,
its signed expiring link (GET shows a button, only POST confirms), the welcome email once, the
resend limit, coming back after unsubscribing, bulk audiences and the purge."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

from psycopg_pool import AsyncConnectionPool

from services.sender.optin_mail import send_confirmation
from services.sender.smtp import Relays
from shared.campaigns import repository as campaigns
from shared.config import Settings
from shared.db import unit_of_work
from shared.jobs import OPTIN_CONFIRMATION
from shared.optin import mail
from shared.optin import service as optin
from tests.fixtures.smtp import SmtpPeer
from tests.public.forms_world import Shop, Site, address

LINK = re.compile(r"https://links\.example\.com(/confirm/[A-Za-z0-9_-]+)")


async def mail_confirmation(
    pool: AsyncConnectionPool, settings: Settings, peer: SmtpPeer, confirmation_id: int
) -> str:
    relays = Relays([peer.url], 1, 5)
    try:
        return await send_confirmation(pool, confirmation_id, settings=settings, relays=relays)
    finally:
        await relays.close()


def link_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found is not None
    return found.group(1)


async def test_confirmation_mail_link_get_never_confirms_post_does_and_welcomes_once(
    site: Site, shop: Shop, pool: AsyncConnectionPool, settings: Settings, smtp_peer: SmtpPeer
) -> None:
    email = address()
    await site.submit(shop.form_id, email, first_name="Ayşe", locale="tr")
    confirmation = shop.confirmation(email)
    assert confirmation is not None
    assert await mail_confirmation(pool, settings, smtp_peer, confirmation["id"]) == "sent"
    assert len(smtp_peer.received) == 1
    message = smtp_peer.received[0].message
    assert smtp_peer.received[0].rcpt_tos == [email]
    assert message["Subject"] == "Lütfen Tart Shop aboneliğinizi onaylayın"
    assert message["List-Unsubscribe"] is None and message["Precedence"] is None
    path = link_in(message)
    html = message.get_body(("html",))
    assert html is not None and path in html.get_content()  # the link is not click-tracked

    # a link scanner fetching the link (GET, HEAD) confirms nothing
    for agent in ("Mozilla/5.0 (X11) Firefox/128.0", "Mimecast URL scanner", ""):
        page = await site.client.get(path, headers={"user-agent": agent})
        assert page.status_code == 200
        assert 'method="post"' in page.text and "Aboneliğimi onayla" in page.text
    assert (await site.client.head(path)).status_code in (200, 405)
    subscriber = shop.subscriber(email)
    assert subscriber is not None and subscriber["state"] == "pending"

    confirmed = await site.client.post(path)
    assert confirmed.status_code == 200 and "Abonelik onaylandı" in confirmed.text
    subscriber = shop.subscriber(email)
    assert subscriber is not None and subscriber["state"] == "active"
    assert shop.confirmation(email) is None
    welcome = "SELECT count(*) FROM sends WHERE email_id = %s AND subscriber_id = %s"
    assert shop.count(welcome, shop.welcome_email_id, subscriber["id"]) == 1

    history = shop.db.execute(
        "SELECT action, source, source_ref, host(ip) AS ip, user_agent, text_hash, detail "
        "FROM consent_records WHERE subscriber_id = %s ORDER BY id",
        [subscriber["id"]],
    ).fetchall()
    assert [(r["action"], r["source"], r["source_ref"]) for r in history] == [
        ("subscribe", "form", str(shop.form_id)),
        ("confirm", "form", str(shop.form_id)),
    ]
    assert all(r["ip"] == site.ip and len(r["text_hash"]) == 64 for r in history)
    assert history[0]["detail"] == {"locale": "tr_TR", "double_opt_in": True}

    # used once: the link is dead, and a redelivered mail job sends nothing
    assert (await site.client.post(path)).status_code == 404
    assert (await site.client.get(path)).status_code == 404
    assert await mail_confirmation(pool, settings, smtp_peer, confirmation["id"]) == "skipped"
    assert len(smtp_peer.received) == 1


async def test_expired_tampered_and_foreign_tokens_confirm_nothing(
    site: Site, shop: Shop, settings: Settings
) -> None:
    email = address()
    await site.submit(shop.form_id, email)
    confirmation = shop.confirmation(email)
    subscriber = shop.subscriber(email)
    assert confirmation is not None and subscriber is not None
    ids = [confirmation["id"], subscriber["id"]]
    codec = mail.codec(settings)
    expired = codec.sign(ids, expires_at=int(time.time()) - 1)
    good = codec.sign(ids, expires_at=int(time.time()) + 600)
    tampered = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]
    other_id = codec.sign(
        [confirmation["id"], subscriber["id"] + 1], expires_at=int(time.time()) + 600
    )
    form_ts = site.ts(ids[0])  # a form timestamp is signed for another purpose
    for token in (expired, tampered, other_id, form_ts, good[:-3], "x" * 500):
        for method in ("GET", "POST"):
            answer = await site.client.request(method, f"/confirm/{token}")
            assert answer.status_code == 404, (token, method)
            assert "not valid" in answer.text
    still = shop.subscriber(email)
    assert still is not None and still["state"] == "pending"
    assert (await site.client.post(f"/confirm/{good}")).status_code == 200


async def test_resubmitting_resends_the_confirmation_at_most_once_per_interval(
    site: Site, shop: Shop
) -> None:
    email = address()
    await site.submit(shop.form_id, email, first_name="First")
    await site.submit(shop.form_id, email, first_name="Second")
    confirmation = shop.confirmation(email)
    assert confirmation is not None and confirmation["mail_count"] == 1
    subscriber = shop.subscriber(email)
    assert subscriber is not None and subscriber["properties"]["first_name"] == "Second"
    shop.db.execute(
        "UPDATE confirmations SET requested_at = now() - interval '11 minutes' WHERE id = %s",
        [confirmation["id"]],
    )
    await site.submit(shop.form_id, email)
    again = shop.confirmation(email)
    assert again is not None and again["mail_count"] == 2 and again["id"] == confirmation["id"]


async def test_an_unsubscribed_address_comes_back_only_by_confirming_and_is_welcomed_once(
    site: Site, shop: Shop
) -> None:
    email = address()
    row = shop.db.execute(
        "INSERT INTO subscribers (sender_id, address, state) VALUES (%s, %s, 'unsubscribed') "
        "RETURNING id",
        [shop.sender_id, email],
    ).fetchone()
    assert row is not None
    shop.db.execute(  # welcomed when they first joined
        "INSERT INTO sends (email_id, sender_id, subscriber_id, state) "
        "VALUES (%s, %s, %s, 'cancelled')",
        [shop.welcome_email_id, shop.sender_id, row["id"]],
    )
    await site.submit(shop.form_id, email)
    subscriber = shop.subscriber(email)
    assert subscriber is not None and subscriber["state"] == "unsubscribed"
    confirmation = shop.confirmation(email)
    assert confirmation is not None
    token = mail.confirm_token(site.settings, confirmation["id"], row["id"])
    assert (await site.client.post(f"/confirm/{token}")).status_code == 200
    subscriber = shop.subscriber(email)
    assert subscriber is not None and subscriber["state"] == "active"
    welcome = "SELECT count(*) FROM sends WHERE email_id = %s AND subscriber_id = %s"
    assert shop.count(welcome, shop.welcome_email_id, row["id"]) == 1
    actions = shop.db.execute(
        "SELECT action FROM consent_records WHERE subscriber_id = %s ORDER BY id", [row["id"]]
    ).fetchall()
    assert [r["action"] for r in actions] == ["subscribe", "resubscribe"]


async def test_pending_subscribers_are_never_in_a_bulk_audience(
    site: Site, shop: Shop, pool: AsyncConnectionPool
) -> None:
    for _ in range(3):
        await site.submit(shop.form_id, address())
    active = address()
    shop.db.execute(
        "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s)", [shop.sender_id, active]
    )
    async with pool.connection() as conn:
        counts = await campaigns.count_audience(
            conn, sender_id=shop.sender_id, email_id=shop.welcome_email_id, locales=[],
            contains={}, filter=None,
        )  # fmt: skip
    assert sum(r["n"] for r in counts) == 1
    assert (
        shop.count(
            "SELECT count(*) FROM subscribers WHERE sender_id = %s AND state = 'pending'",
            shop.sender_id,
        )
        == 3
    )


async def test_the_purge_deletes_only_pending_subscribers_older_than_the_setting(
    site: Site, shop: Shop, pool: AsyncConnectionPool
) -> None:
    old, recent, old_active = address(), address(), address()
    await site.submit(shop.form_id, old)
    await site.submit(shop.form_id, recent)
    shop.db.execute(
        "INSERT INTO subscribers (sender_id, address, state_changed_at) "
        "VALUES (%s, %s, now() - interval '30 days')",
        [shop.sender_id, old_active],
    )
    shop.db.execute(
        "UPDATE subscribers SET state_changed_at = now() - interval '8 days' "
        "WHERE sender_id = %s AND address = %s",
        [shop.sender_id, old],
    )
    await optin.purge_pending(pool, 7, batch=1)  # batches of one: the loop goes on
    assert shop.subscriber(old) is None and shop.confirmation(old) is None
    assert shop.subscriber(recent) is not None and shop.confirmation(recent) is not None
    assert shop.subscriber(old_active) is not None


async def test_a_lost_or_refused_confirmation_mail_and_the_sweep(
    site: Site, shop: Shop, pool: AsyncConnectionPool, settings: Settings, smtp_peer: SmtpPeer
) -> None:
    lost, refused = address(), address()
    await site.submit(shop.form_id, lost)
    await site.submit(shop.form_id, refused)
    ids = {}
    for email in (lost, refused):
        row = shop.confirmation(email)
        assert row is not None
        ids[email] = row["id"]
    shop.db.execute(
        "UPDATE confirmations SET requested_at = now() - interval '31 minutes' WHERE id = ANY(%s)",
        [list(ids.values())],
    )
    smtp_peer.rcpt_replies[refused] = "550 5.1.1 no such user"
    assert await mail_confirmation(pool, settings, smtp_peer, ids[refused]) == "refused"
    async with pool.connection() as conn, unit_of_work(conn) as tx:
        await optin.requeue_unmailed(tx, 30 * 60)
        queued = [j.args[0] for j in tx.after_commit if j.actor_name == OPTIN_CONFIRMATION]
        tx.after_commit.clear()  # this test publishes nothing
    assert ids[lost] in queued and ids[refused] not in queued


async def test_a_deleted_form_or_the_api_is_named_as_the_source_of_the_confirmation(
    site: Site, shop: Shop, pool: AsyncConnectionPool
) -> None:
    form_id = shop.form()
    email = address()
    await site.submit(form_id, email)
    shop.db.execute("DELETE FROM forms WHERE id = %s", [form_id])
    confirmation = shop.confirmation(email)
    subscriber = shop.subscriber(email)
    assert confirmation is not None and subscriber is not None
    token = mail.confirm_token(site.settings, confirmation["id"], subscriber["id"])
    assert (await site.client.post(f"/confirm/{token}")).status_code == 200
    records = shop.db.execute(
        "SELECT action, source, source_ref FROM consent_records WHERE subscriber_id = %s "
        "ORDER BY id",
        [subscriber["id"]],
    ).fetchall()
    assert [(r["action"], r["source"]) for r in records] == [
        ("subscribe", "form"),
        ("confirm", "form"),
    ]
    # a pending subscriber created through the API confirms with source api
    api_email = address()
    async with pool.connection() as conn, unit_of_work(conn) as tx:
        row = await optin.create_pending(
            tx, shop.sender_id, address=api_email, locale="C", properties={},
            resend_minutes=10, api_key_id=1,
        )  # fmt: skip
        tx.after_commit.clear()
    api_confirmation = shop.confirmation(api_email)
    assert api_confirmation is not None and api_confirmation["source"] == "api"
    token = mail.confirm_token(site.settings, api_confirmation["id"], row["id"])
    assert (await site.client.post(f"/confirm/{token}")).status_code == 200
    last = shop.db.execute(
        "SELECT action, source FROM consent_records WHERE subscriber_id = %s ORDER BY id DESC "
        "LIMIT 1",
        [row["id"]],
    ).fetchone()
    assert last == {"action": "confirm", "source": "api"}
