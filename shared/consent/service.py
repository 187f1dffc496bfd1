"""Writing consent records: the one function every path calls, plus a set-based variant for
imports and bulk changes. Values are checked here so a caller's mistake is a ValueError in
tests, not a constraint violation in production.

IP and user agent are kept for every sender, including those with anonymous event tracking:
they are proof of consent, not tracking, and erasure removes them (db/0100).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from shared.consent import repository
from shared.db import Conn

ACTIONS = frozenset(
    {"subscribe", "confirm", "unsubscribe", "resubscribe", "preference_change", "erase_request"}
)
SOURCES = frozenset(
    {"form", "api", "admin", "import", "one_click", "email_link", "mailto", "preferences"}
)
MAX_USER_AGENT = 1000
MAX_SOURCE_REF = 200


def text_hash(text: str) -> str:
    """SHA-256 (hex) of the text a person saw when they acted, as ``record`` expects it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _checked(
    action: str,
    source: str,
    source_ref: str | None,
    ip: str | None,
    user_agent: str | None,
    text_hash: str | None,
) -> tuple[str | None, str | None, str | None]:
    if action not in ACTIONS:
        raise ValueError(f"unknown consent action {action!r}")
    if source not in SOURCES:
        raise ValueError(f"unknown consent source {source!r}")
    if source_ref is not None and (
        not source_ref
        or len(source_ref) > MAX_SOURCE_REF
        or "\r" in source_ref
        or "\n" in source_ref
    ):
        raise ValueError("source_ref must be 1-200 characters on one line")
    if text_hash is not None and (
        len(text_hash) != 64 or any(c not in "0123456789abcdef" for c in text_hash)
    ):
        raise ValueError("text_hash must be a lower-case hex SHA-256 (use consent.text_hash)")
    clean_ip: str | None = None
    if ip:
        try:
            clean_ip = str(ipaddress.ip_address(ip))
        except ValueError:
            clean_ip = None  # a malformed forwarded header must not lose the record
    agent = user_agent[:MAX_USER_AGENT] if user_agent else None
    return source_ref, clean_ip, agent


async def record(
    conn: Conn,
    *,
    sender_id: int,
    subscriber_id: int,
    action: str,
    source: str,
    source_ref: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    text_hash: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one consent record inside the caller's transaction.

    Parameters:
        action: subscribe, confirm, unsubscribe, resubscribe, preference_change, erase_request.
        source: form, api, admin, import, one_click, preferences.
        source_ref: what within the source (form id, API key id, admin user id, import id).
        ip, user_agent: of the person's request, when there is one (a bad IP is dropped).
        text_hash: ``text_hash(wording)`` of what they were shown.
        detail: small non-identifying facts (``{"topics": {"news": true}}``); erasure drops it.
    """
    source_ref, ip, user_agent = _checked(action, source, source_ref, ip, user_agent, text_hash)
    await repository.insert(
        conn,
        sender_id=sender_id,
        subscriber_id=subscriber_id,
        action=action,
        source=source,
        source_ref=source_ref,
        ip=ip,
        user_agent=user_agent,
        text_hash=text_hash,
        detail=detail,
    )


async def record_many(
    conn: Conn,
    *,
    sender_id: int,
    subscriber_ids: Sequence[int],
    action: str,
    source: str,
    source_ref: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    text_hash: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """The same record for many subscribers in one statement (a CSV import). Ids that are not
    the sender's subscribers are skipped. Returns how many records were written."""
    source_ref, ip, user_agent = _checked(action, source, source_ref, ip, user_agent, text_hash)
    if not subscriber_ids:
        return 0
    return await repository.insert_many(
        conn,
        sender_id=sender_id,
        subscriber_ids=subscriber_ids,
        action=action,
        source=source,
        source_ref=source_ref,
        ip=ip,
        user_agent=user_agent,
        text_hash=text_hash,
        detail=detail,
    )
