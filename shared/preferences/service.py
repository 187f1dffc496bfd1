"""Preference center rules: which locales a subscriber may pick, which topics they see, and a
save that changes only what differs and records it as a ``preference_change`` consent record.

Unsubscribing from everything and resubscribing go through ``shared.events.service`` (source
``preferences``), the one path every unsubscribe takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.consent import service as consent
from shared.db import Conn, Row
from shared.events.machine import clean_ip
from shared.preferences import repository
from shared.subscribers import repository as subscribers
from shared.topics import repository as topics

# The page languages the public service speaks, as subscriber locales.
LOCALES = ("en_US", "tr_TR")


@dataclass(frozen=True)
class Change:
    """What a save changed (empty when nothing did)."""

    locale: tuple[str, str] | None = None
    topics: dict[str, bool] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.locale is not None or bool(self.topics)


def expired(issued_at: datetime, now: datetime, days: int) -> bool:
    """A preference link older than ``days`` no longer works (its unsubscribe link still does)."""
    return now - issued_at > timedelta(days=days)


def locale_choices(current: str) -> list[str]:
    """The locales offered: the page languages, plus the subscriber's own if it is another."""
    return list(LOCALES) if current in LOCALES else [*LOCALES, current]


def shown_text(declared: Sequence[Row], language: str) -> str:
    """The choices the page showed, in its language: what the consent record's text_hash is of
    (the sender can recompute it from its topic labels)."""
    labels = [
        (t["label_tr"] or t["label_en"]) if language == "tr" else t["label_en"] for t in declared
    ]
    return "\n".join(["locale: " + ", ".join(LOCALES), *labels])


def topic_states(declared: Sequence[Row], properties: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sender's topics with whether the subscriber has each (properties[key] is true)."""
    return [
        {
            "key": t["key"],
            "label_en": t["label_en"],
            "label_tr": t["label_tr"] or t["label_en"],
            "on": properties.get(t["key"]) is True,
        }
        for t in declared
    ]


async def declared_topics(conn: Conn, sender_id: int) -> list[Row]:
    return await topics.list_topics(conn, sender_id)


async def save(
    conn: Conn,
    context: Row,
    *,
    locale: str,
    chosen: set[str],
    ip: str | None,
    user_agent: str | None,
    language: str = "en",
) -> Change | None:
    """Apply a preference form: the locale and the set of topic keys checked. Topics the sender
    no longer declares are left alone. Returns None when the subscriber is gone (erased), or
    when ``locale`` is not one offered (the caller shows the page again). ``language`` is the
    page's (en, tr): the record keeps the hash of the choices as shown."""
    sender_id, subscriber_id = context["sender_id"], context["subscriber_id"]
    if subscriber_id is None:
        return None
    row = await repository.lock_subscriber(conn, sender_id, subscriber_id)
    if row is None or locale not in locale_choices(row["locale"]):
        return None
    declared = await declared_topics(conn, sender_id)
    properties = row["properties"]
    flips = {
        t["key"]: t["key"] in chosen
        for t in declared
        if (properties.get(t["key"]) is True) != (t["key"] in chosen)
    }
    change = Change(
        locale=(row["locale"], locale) if locale != row["locale"] else None, topics=flips
    )
    if not change.changed:
        return change
    updates: dict[str, Any] = {}
    if change.locale is not None:
        updates["locale"] = locale
    if flips:
        updates["merge"] = flips
    await subscribers.update(conn, sender_id, subscriber_id, updates)
    anonymous = context["anonymous_events"]
    detail: dict[str, Any] = {}
    if change.locale is not None:
        detail["locale"] = {"from": change.locale[0], "to": change.locale[1]}
    if flips:
        detail["topics"] = flips
    await consent.record(
        conn,
        sender_id=sender_id,
        subscriber_id=subscriber_id,
        action="preference_change",
        source="preferences",
        source_ref=str(context["send_id"]),
        ip=None if anonymous else clean_ip(ip),
        user_agent=None if anonymous else user_agent,
        text_hash=consent.text_hash(shown_text(declared, language)),
        detail=detail,
    )
    return change
