"""A subscriber who joined through a form, confirmed and was welcomed, then erased: a full
pg_dump holds the address nowhere (confirmations, throttle counters, consent records, sends)."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from shared.config import Settings
from shared.db import unit_of_work
from shared.optin import mail
from shared.privacy.erasure import erase
from tests.privacy.test_erase_dump import dump, traces
from tests.public.forms_world import Shop, Site, address


async def test_an_erased_form_subscriber_leaves_no_trace(
    site: Site, shop: Shop, pool: AsyncConnectionPool, settings: Settings
) -> None:
    email = address()
    await site.submit(shop.form_id, email, first_name="Ada", topics="news")
    confirmation = shop.confirmation(email)
    subscriber = shop.subscriber(email)
    assert confirmation is not None and subscriber is not None
    token = mail.confirm_token(settings, confirmation["id"], subscriber["id"])
    assert (await site.client.post(f"/confirm/{token}")).status_code == 200
    await site.submit(shop.form_id, email)  # counted again, ignored: active
    assert traces(dump(settings), email), "the address must be in the dump before the erase"

    async with pool.connection() as conn, unit_of_work(conn) as tx:
        assert await erase(
            tx.conn, shop.sender_id, subscriber["id"],
            key=settings.erasure_key.get_secret_value().encode(), source="admin",
        )  # fmt: skip
    assert traces(dump(settings), email) == []
    kept = shop.db.execute(
        "SELECT action FROM consent_records WHERE sender_id = %s ORDER BY id", [shop.sender_id]
    ).fetchall()
    assert [k["action"] for k in kept] == ["subscribe", "confirm", "erase_request"]
