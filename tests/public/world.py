"""Small committed fixtures for the public service: a sender, subscribers, an email with one
variation, and sends. Committed (not rolled back) because the app under test reads through its
own pool; each World deletes its sender (cascading) when the test ends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

HTML_BODY = (
    "<html><body><p>Merhaba {{ properties.name }}</p>"
    '<a href="https://example.org/a?u={{ address }}">A</a> '
    '<a href="https://example.org/b">B</a> '
    '<a href="{{ unsubscribe_url }}">unsubscribe</a></body></html>'
)
PLAIN_BODY = "Hello {{ properties.name }}\nView: {{ view_url }}\n"


@dataclass
class World:
    """Ids of the rows a test made, and the connection that made them."""

    db: psycopg.Connection[dict[str, Any]]
    sender_id: int
    email_id: int
    variation_id: int
    subscribers: list[int] = field(default_factory=list)

    def subscriber(self, *, locale: str = "C", name: str = "Ada") -> int:
        address = f"sub-{uuid.uuid4().hex[:12]}@example.com"
        row = self.db.execute(
            "INSERT INTO subscribers (sender_id, address, locale, properties) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            [self.sender_id, address, locale, Jsonb({"name": name})],
        ).fetchone()
        assert row is not None
        self.subscribers.append(row["id"])
        return int(row["id"])

    def send(
        self,
        subscriber_id: int,
        *,
        state: str = "sent",
        sent_ago_s: float = 3600,
        email_id: int | None = None,
        variation_id: int | None = None,
    ) -> int:
        email = email_id or self.email_id
        variation = variation_id or (self.variation_id if email == self.email_id else None)
        row = self.db.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id, variation_id, state, sent_at) "
            "VALUES (%s, %s, %s, %s, %s, CASE WHEN %s = 'sent' "
            "THEN now() - make_interval(secs => %s) END) RETURNING id",
            [email, self.sender_id, subscriber_id, variation, state, state, sent_ago_s],
        ).fetchone()
        assert row is not None
        return int(row["id"])

    def email(
        self, *, html: str | None = HTML_BODY, plain: str | None = PLAIN_BODY,
        redirect_url: str | None = None,
    ) -> tuple[int, int]:  # fmt: skip
        """Another email of this sender with one variation: (email id, variation id)."""
        email = self.db.execute(
            "INSERT INTO emails (sender_id, name, redirect_url, state) "
            "VALUES (%s, %s, %s, 'sending') RETURNING id",
            [self.sender_id, f"email-{uuid.uuid4().hex[:6]}", redirect_url],
        ).fetchone()
        assert email is not None
        variation = self.db.execute(
            "INSERT INTO variations (email_id, subject, plain_body, html_body) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            [email["id"], "News for {{ properties.name }}", plain, html],
        ).fetchone()
        assert variation is not None
        return int(email["id"]), int(variation["id"])

    def row(self, sql: str, *params: Any) -> dict[str, Any]:
        found = self.db.execute(sql, list(params)).fetchone()
        assert found is not None
        return found

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return self.db.execute(sql, list(params)).fetchall()


def make_world(
    database_url: str, *, name: str = "Tart News", anonymous: bool = False,
    webhook_url: str | None = None,
) -> World:  # fmt: skip
    db = psycopg.connect(database_url, autocommit=True, row_factory=dict_row)
    address = f"news-{uuid.uuid4().hex[:10]}@example.com"
    sender = db.execute(
        "INSERT INTO senders (address, name, public_base_url, return_path_domain, "
        "anonymous_events, webhook_url, webhook_secret) "
        "VALUES (%s, %s, 'https://links.example.com', 'example.com', %s, %s, %s) RETURNING id",
        [address, name, anonymous, webhook_url, "whsec-test" if webhook_url else None],
    ).fetchone()
    assert sender is not None
    world = World(db=db, sender_id=int(sender["id"]), email_id=0, variation_id=0)
    world.email_id, world.variation_id = world.email()
    return world


def drop_world(world: World) -> None:
    world.db.execute("DELETE FROM senders WHERE id = %s", [world.sender_id])
    world.db.close()
