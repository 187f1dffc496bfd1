"""Sender topics: list, declare or relabel, delete."""

from __future__ import annotations

import re

from shared.db import Conn, Row, fetch_all, fetch_one, load_queries
from shared.limits import FORM_TOPICS_MAX

Q = load_queries(__file__)
TOPIC_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_TOPICS = FORM_TOPICS_MAX


async def list_topics(conn: Conn, sender_id: int) -> list[Row]:
    return await fetch_all(conn, Q.list_topics, {"sender_id": sender_id})


async def put_topic(
    conn: Conn, sender_id: int, key: str, *, label_en: str, label_tr: str, position: int
) -> Row:
    """Create or relabel; the row has ``inserted``."""
    row = await fetch_one(
        conn,
        Q.put_topic,
        {"sender_id": sender_id, "key": key, "label_en": label_en, "label_tr": label_tr,
         "position": position},
    )  # fmt: skip
    assert row is not None
    return row


async def delete_topic(conn: Conn, sender_id: int, key: str) -> bool:
    return await fetch_one(conn, Q.delete_topic, {"sender_id": sender_id, "key": key}) is not None
