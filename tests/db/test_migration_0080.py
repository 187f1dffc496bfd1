"""db/0080 on a database with bounces from both paths: an SMTP-time bounce (kept until now only
as a send event) becomes a response report the soft-bounce window counts, an inbound delay
notice is marked not permanent, and migrating twice adds nothing."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from yoyo import get_backend, read_migrations

from shared.config import Settings
from shared.migrate import MIGRATIONS_DIR, drop_database, ensure_database, migrate, yoyo_url


def test_smtp_bounces_become_reports(settings: Settings) -> None:
    base = psycopg.conninfo.conninfo_to_dict(settings.database_url)
    url = psycopg.conninfo.make_conninfo(**{**base, "dbname": f"tart_m80_{uuid.uuid4().hex[:8]}"})
    ensure_database(url)
    try:
        backend = get_backend(yoyo_url(url))
        before = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id < "0080")
        with backend.lock():
            backend.apply_migrations(backend.to_apply(before))
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:

            def one(sql: str, *params: object) -> dict:
                row = conn.execute(sql, params).fetchone()
                assert row is not None
                return row

            sender = one(
                "INSERT INTO senders (address, name, public_base_url, return_path_domain)"
                " VALUES ('m@example.com', 'M', 'https://l.example.com', 'example.com')"
                " RETURNING id"
            )["id"]
            email = one(
                "INSERT INTO emails (sender_id, name) VALUES (%s, 'e') RETURNING id", sender
            )["id"]
            sub = one(
                "INSERT INTO subscribers (sender_id, address) VALUES (%s, 'a@example.org')"
                " RETURNING id",
                sender,
            )["id"]
            send = one(
                "INSERT INTO sends (email_id, sender_id, subscriber_id, state, attempts)"
                " VALUES (%s, %s, %s, 'sending', 1) RETURNING id",
                email,
                sender,
                sub,
            )["id"]
            conn.execute("UPDATE sends SET state = 'failed' WHERE id = %s", [send])
            conn.execute(
                "INSERT INTO send_events (send_id, email_id, subscriber_id, kind, detail)"
                " VALUES (%s, %s, %s, 'bounce', %s)",
                [send, email, sub, Jsonb({"type": "soft", "status": "5.2.2",
                                          "reply": "552 5.2.2 full", "source": "smtp"})],
            )  # fmt: skip
            inbound = one(
                "INSERT INTO inbound_messages (sha256, raw, size, source)"
                " VALUES (%s, 'x', 1, 'test') RETURNING id",
                uuid.uuid4().bytes * 2,
            )["id"]
            conn.execute(
                "INSERT INTO response_reports (inbound_id, sender_id, send_id, subscriber_id,"
                " kind, recipient, hard_or_soft, status)"
                " VALUES (%s, %s, %s, %s, 'bounce', 'a@example.org', 'soft', '4.2.2')",
                [inbound, sender, send, sub],
            )
            assert "0080_one_bounce_policy" in migrate(url)
            assert migrate(url) == []
            rows = conn.execute(
                "SELECT source, inbound_id, attempt, send_id, recipient, hard_or_soft, permanent,"
                " status, diagnostic FROM response_reports ORDER BY id"
            ).fetchall()
        assert rows == [
            {"source": "inbound", "inbound_id": inbound, "attempt": None, "send_id": send,
             "recipient": "a@example.org", "hard_or_soft": "soft", "permanent": False,
             "status": "4.2.2", "diagnostic": None},
            {"source": "smtp", "inbound_id": None, "attempt": 1, "send_id": send,
             "recipient": "a@example.org", "hard_or_soft": "soft", "permanent": True,
             "status": "5.2.2", "diagnostic": "552 5.2.2 full"},
        ]  # fmt: skip
    finally:
        drop_database(url)
