"""Storage of subscriptions in progress: subscribers created from forms, confirmations,
confirmation templates, welcome sends, submission counters and the pending purge."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row, execute, fetch_all, fetch_one, fetch_value, load_queries
from shared.subscribers.bits import property_bits

Q = load_queries(__file__)


async def lock_by_address(conn: Conn, sender_id: int, address: str) -> Row | None:
    return await fetch_one(conn, Q.lock_by_address, {"sender_id": sender_id, "address": address})


async def insert_subscriber(
    conn: Conn,
    sender_id: int,
    *,
    address: str,
    locale: str,
    properties: dict[str, Any],
    state: str,
) -> Row | None:
    """The new subscriber, or None when the address exists."""
    return await fetch_one(
        conn,
        Q.insert_subscriber,
        {"sender_id": sender_id, "address": address, "locale": locale,
         "properties": Jsonb(properties), "property_bits": property_bits(properties),
         "state": state},
    )  # fmt: skip


async def update_pending(
    conn: Conn, subscriber_id: int, *, locale: str, properties: dict[str, Any]
) -> None:
    await execute(
        conn,
        Q.update_pending,
        {"id": subscriber_id, "locale": locale, "properties": Jsonb(properties),
         "property_bits": property_bits(properties)},
    )  # fmt: skip


async def open_confirmation(
    conn: Conn, sender_id: int, subscriber_id: int, form_id: int | None, resend_minutes: int
) -> int | None:
    """The confirmation's id when a mail should go out now; None when one went too recently.
    Without a form, the API asked for it."""
    value = await fetch_value(
        conn,
        Q.open_confirmation,
        {"sender_id": sender_id, "subscriber_id": subscriber_id, "form_id": form_id,
         "source": "api" if form_id is None else "form", "resend_minutes": resend_minutes},
    )  # fmt: skip
    return None if value is None else int(value)


async def confirmation_for_mail(conn: Conn, confirmation_id: int) -> Row | None:
    return await fetch_one(conn, Q.confirmation_for_mail, {"id": confirmation_id})


async def mark_mailed(conn: Conn, confirmation_id: int) -> None:
    await execute(conn, Q.mark_mailed, {"id": confirmation_id})


async def unmailed_confirmations(conn: Conn, age_seconds: float, limit: int = 1000) -> list[int]:
    rows = await fetch_all(
        conn, Q.unmailed_confirmations, {"age_seconds": age_seconds, "limit": limit}
    )
    return [int(r["id"]) for r in rows]


async def confirmation_page(conn: Conn, confirmation_id: int, subscriber_id: int) -> Row | None:
    return await fetch_one(
        conn, Q.confirmation_page, {"id": confirmation_id, "subscriber_id": subscriber_id}
    )


async def confirm(conn: Conn, confirmation_id: int, subscriber_id: int) -> Row | None:
    return await fetch_one(conn, Q.confirm, {"id": confirmation_id, "subscriber_id": subscriber_id})


async def queue_welcome(
    conn: Conn, sender_id: int, subscriber_id: int, email_id: int
) -> Row | None:
    return await fetch_one(
        conn,
        Q.queue_welcome,
        {"sender_id": sender_id, "subscriber_id": subscriber_id, "email_id": email_id},
    )


async def sender_welcome(conn: Conn, sender_id: int) -> int | None:
    value = await fetch_value(conn, Q.sender_welcome, {"sender_id": sender_id})
    return None if value is None else int(value)


async def set_sender_welcome(conn: Conn, sender_id: int, email_id: int | None) -> bool:
    row = await fetch_one(
        conn, Q.set_sender_welcome, {"sender_id": sender_id, "email_id": email_id}
    )
    return row is not None


async def get_template(conn: Conn, sender_id: int, language: str) -> Row | None:
    return await fetch_one(conn, Q.get_template, {"sender_id": sender_id, "language": language})


async def put_template(
    conn: Conn, sender_id: int, language: str, *, subject: str, plain_body: str,
    html_body: str | None,
) -> Row:  # fmt: skip
    row = await fetch_one(
        conn,
        Q.put_template,
        {"sender_id": sender_id, "language": language, "subject": subject,
         "plain_body": plain_body, "html_body": html_body},
    )  # fmt: skip
    assert row is not None
    return row


async def delete_template(conn: Conn, sender_id: int, language: str) -> bool:
    row = await fetch_one(conn, Q.delete_template, {"sender_id": sender_id, "language": language})
    return row is not None


async def count_submission(conn: Conn, keys: list[str]) -> dict[str, int]:
    rows = await fetch_all(conn, Q.count_submission, {"keys": keys})
    return {r["key"]: int(r["count"]) for r in rows}


async def purge_pending(conn: Conn, days: int, limit: int) -> int:
    rows = await fetch_all(conn, Q.purge_pending, {"days": days, "limit": limit})
    return len(rows)


async def purge_stale_confirmations(conn: Conn, days: int, limit: int) -> int:
    rows = await fetch_all(conn, Q.purge_stale_confirmations, {"days": days, "limit": limit})
    return len(rows)
