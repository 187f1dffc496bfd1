"""send.test: one variation to any address, rendered with made-up properties."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg_pool import AsyncConnectionPool

from services.sender.message import compose
from services.sender.smtp import Relays
from shared.campaigns import repository as campaigns
from shared.logging import get_logger
from shared.sends import repository as sends

log = get_logger(__name__)
# Not a signed token: links in a test message lead to a 404 on purpose.
TEST_TOKEN = "test"  # noqa: S105


async def send_test(
    pool: AsyncConnectionPool,
    sender_id: int,
    variation_id: int,
    address: str,
    properties: dict[str, Any],
    *,
    relays: Relays,
    data: dict[str, Any] | None = None,
) -> str:
    """Returns the relay's reply. Tenant-checked: the variation must belong to the sender."""
    async with pool.connection() as conn:
        variation = await campaigns.get_variation(conn, sender_id, variation_id)
        # The email's context (its layout, whether it is transactional) and its sender's.
        ctx = None if variation is None else await sends.batch_context(conn, variation["email_id"])
        await conn.rollback()
    if ctx is None or variation is None:
        log.warning("test send for a missing sender or variation", variation_id=variation_id)
        return "not found"
    out = compose(
        ctx,
        variation,
        {"address": address, "locale": "C", "properties": properties},
        TEST_TOKEN,
        bulk=False,
        track_clicks=variation["track_clicks"],
        email_id=variation["email_id"],
        message_id=f"test-{uuid.uuid4().hex}@{ctx['return_path_domain']}",
        payload=None if data is None else {"data": data},
    )
    result = await relays.send(ctx["relay"], out.mail_from, out.rcpt, out.data)
    log.info("test send", variation_id=variation_id, code=result.code, reply=result.reply)
    return result.reply
