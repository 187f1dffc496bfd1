"""A visitor joins through the hosted form, end to end with the real sender worker process and
the SMTP peer: the confirmation mail arrives, the link's POST confirms, and the welcome email
goes out through the send rows and send.batch (once)."""

from __future__ import annotations

import re

from shared.config import Settings
from tests.fixtures.smtp import SmtpPeer
from tests.public.forms_world import address, drop_shop, make_shop, open_site
from tests.sender.conftest import WorkerProcess, await_until

LINK = re.compile(r"https://links\.example\.com(/confirm/[A-Za-z0-9_-]+)")


async def test_join_confirm_and_get_the_welcome_email_once(
    settings: Settings, smtp_peer: SmtpPeer, sender_worker: WorkerProcess
) -> None:
    shop = make_shop(settings)
    try:
        email = address()

        def mails_to(subject_start: str) -> list[str]:
            return [
                r.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
                for r in list(smtp_peer.received)
                if r.rcpt_tos == [email] and str(r.message["Subject"]).startswith(subject_start)
            ]

        async for site in open_site(settings):
            answer = await site.submit(shop.form_id, email, first_name="Ada", topics="news")
            assert answer.status_code == 200
            await await_until(lambda: bool(mails_to("Please confirm")), timeout=60)
            found = LINK.search(mails_to("Please confirm")[0])
            assert found is not None, sender_worker.output()
            confirmed = await site.client.post(found.group(1))
            assert confirmed.status_code == 200 and "Subscription confirmed" in confirmed.text
            await await_until(lambda: bool(mails_to("Welcome Ada")), timeout=60)
            again = await site.client.post(found.group(1))
            assert again.status_code == 404
        subscriber = shop.subscriber(email)
        assert subscriber is not None and subscriber["state"] == "active"
        sent = shop.count(
            "SELECT count(*) FROM sends"
            " WHERE email_id = %s AND subscriber_id = %s AND state = 'sent'",
            shop.welcome_email_id,
            subscriber["id"],
        )
        assert sent == 1
        assert len(mails_to("Welcome Ada")) == 1
    finally:
        drop_shop(shop)
