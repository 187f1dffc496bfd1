"""Sender and API key storage."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from shared.db import Conn, Row, execute, fetch_all, fetch_one, fetch_value, load_queries
from shared.limits import API_KEY_RATE_DEFAULT

Q = load_queries(__file__)
KEY_PREFIX = "tart_"


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def new_api_key() -> str:
    """A fresh key: a recognisable prefix plus 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_sender(
    conn: Conn,
    *,
    address: str,
    name: str,
    public_base_url: str,
    return_path_domain: str | None = None,
    reply_to: str | None = None,
) -> Row:
    row = await fetch_one(
        conn,
        Q.create_sender,
        {
            "address": address.strip().lower(),
            "name": name,
            "public_base_url": public_base_url.rstrip("/"),
            "return_path_domain": return_path_domain,
            "reply_to": reply_to,
        },
    )
    assert row is not None
    return row


async def get_sender(conn: Conn, sender_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_sender, {"id": sender_id})


async def create_api_key(
    conn: Conn,
    sender_id: int,
    name: str = "",
    *,
    rate_per_minute: int = API_KEY_RATE_DEFAULT,
    can_manage_keys: bool = False,
) -> tuple[str, Row]:
    """A new key of the sender, limited to ``rate_per_minute`` requests a minute, which may
    manage the sender's keys if ``can_manage_keys``. Returns the plain key (show it once) and the
    stored row."""
    key = new_api_key()
    row = await fetch_one(
        conn,
        Q.create_api_key,
        {
            "sender_id": sender_id,
            "name": name,
            "prefix": key[:12],
            "key_hash": hash_api_key(key),
            "rate_per_minute": rate_per_minute,
            "can_manage_keys": can_manage_keys,
        },
    )
    assert row is not None
    return key, row


async def find_api_key(conn: Conn, key: str) -> Row | None:
    return await fetch_one(conn, Q.find_api_key, {"key_hash": hash_api_key(key)})


async def lease_api_requests(conn: Conn, key_id: int, window_start: datetime, chunk: int) -> int:
    """Add ``chunk`` requests to the key's window counter; returns the window's new total."""
    params = {"key_id": key_id, "window_start": window_start, "chunk": chunk}
    return int(await fetch_value(conn, Q.lease_api_requests, params))


async def purge_api_rate_counters(conn: Conn, keep_minutes: int = 5) -> int:
    """Drop API rate windows older than ``keep_minutes``; returns how many."""
    return await execute(conn, Q.purge_api_rate_counters, {"keep_minutes": keep_minutes})


async def revoke_api_key(conn: Conn, sender_id: int, key_id: int) -> Row | None:
    return await fetch_one(conn, Q.revoke_api_key, {"id": key_id, "sender_id": sender_id})


async def list_api_keys(conn: Conn, sender_id: int) -> list[Row]:
    return await fetch_all(conn, Q.list_api_keys, {"sender_id": sender_id})


async def get_api_key(conn: Conn, sender_id: int, key_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_api_key, {"id": key_id, "sender_id": sender_id})


async def get_public_sender(conn: Conn, sender_id: int) -> Row | None:
    return await fetch_one(conn, Q.get_public_sender, {"id": sender_id})


SENDER_FIELDS = (
    "guard_bounce_rate",
    "guard_complaint_rate",
    "guard_min_sent",
    "name",
    "reply_to",
    "public_base_url",
    "soft_bounce_limit",
    "anonymous_events",
    "webhook_url",
    "webhook_events",
    "relay",
    "postal_address",
    "transactional_rate_limited",
)


async def update_sender(conn: Conn, sender_id: int, changes: dict[str, Any]) -> bool:
    """Apply the fields present in ``changes`` (others are left alone). False if no such sender."""
    params: dict[str, Any] = {"id": sender_id, "new_secret": secrets.token_urlsafe(32)}
    for field in SENDER_FIELDS:
        params[f"set_{field}"] = field in changes
        params[field] = changes.get(field)
    return await fetch_one(conn, Q.update_sender, params) is not None


async def rotate_webhook_secret(conn: Conn, sender_id: int) -> str:
    secret = secrets.token_urlsafe(32)
    await fetch_one(conn, Q.set_webhook_secret, {"id": sender_id, "secret": secret})
    return secret


# admin: reads and writes of the admin's sender pages.


async def admin_list_senders(conn: Conn, user_id: int, is_owner: bool) -> list[Row]:
    return await fetch_all(conn, Q.admin_list_senders, {"user_id": user_id, "is_owner": is_owner})


async def admin_update_sender_settings(conn: Conn, sender_id: int, values: dict[str, Any]) -> bool:
    """Save the settings form: name, reply_to, public_base_url, return_path_domain,
    rate_per_second, rate_per_hour, soft_bounce_limit, soft_bounce_days, anonymous_events,
    webhook_url, relay, postal_address, transactional_rate_limited, and the guard
    (guard_bounce_rate, guard_complaint_rate, guard_min_sent) when ``values`` has
    guard_min_sent."""
    guard = {"guard_bounce_rate": None, "guard_complaint_rate": None, "guard_min_sent": None}
    params = {
        "id": sender_id, "new_secret": secrets.token_urlsafe(32),
        "set_guard": values.get("guard_min_sent") is not None, **guard, **values,
    }  # fmt: skip
    return await fetch_one(conn, Q.admin_update_sender_settings, params) is not None


async def admin_delete_sender(conn: Conn, sender_id: int) -> bool:
    return await fetch_one(conn, Q.admin_delete_sender, {"id": sender_id}) is not None
