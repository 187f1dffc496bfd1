"""db/0090 on a database with events recorded by the old rules: opens flagged machine only
because Gmail's or Yahoo's proxy fetched them become human proxied opens (counted on their send,
first open time included), and sends get their machine open and click counts."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.rows import dict_row
from yoyo import get_backend, read_migrations

from shared.config import Settings
from shared.migrate import MIGRATIONS_DIR, drop_database, ensure_database, migrate, yoyo_url


def test_the_backfill_recounts_proxied_and_machine_events(settings: Settings) -> None:
    base = psycopg.conninfo.conninfo_to_dict(settings.database_url)
    url = psycopg.conninfo.make_conninfo(**{**base, "dbname": f"tart_m90_{uuid.uuid4().hex[:8]}"})
    ensure_database(url)
    try:
        backend = get_backend(yoyo_url(url))
        before = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id < "0090")
        with backend.lock():
            backend.apply_migrations(backend.to_apply(before))
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:

            def one(sql: str, *params: object) -> int:
                row = conn.execute(sql + " RETURNING id", list(params)).fetchone()
                assert row is not None
                return int(row["id"])

            sender = one(
                "INSERT INTO senders (address, name, public_base_url, return_path_domain)"
                " VALUES ('m@example.com', 'M', 'https://l.example.com', 'example.com')"
            )
            email = one("INSERT INTO emails (sender_id, name) VALUES (%s, 'e')", sender)
            variation = one(
                "INSERT INTO variations (email_id, subject, plain_body) VALUES (%s, 's', 'b')",
                email,
            )
            sends = []
            for i, (opened, count) in enumerate([("2026-01-01T10:00Z", 1), (None, 0), (None, 0)]):
                subscriber = one(
                    "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s)",
                    sender,
                    f"s{i}@example.com",
                )
                send = one(
                    "INSERT INTO sends (email_id, sender_id, subscriber_id, variation_id, state,"
                    " sent_at, opened_at, open_count) VALUES (%s, %s, %s, %s, 'sent',"
                    " '2026-01-01T00:00Z', %s, %s)",
                    email, sender, subscriber, variation, opened, count,
                )  # fmt: skip
                sends.append(send)
            events = [
                # (send, kind, at, machine_reason): what the old rules wrote
                (sends[0], "open", "2026-01-01T09:00Z", "google_image_proxy"),
                (sends[0], "open", "2026-01-01T11:00Z", "yahoo_image_proxy"),
                (sends[1], "open", "2026-01-01T12:00Z", "apple_mpp"),
                (sends[1], "click", "2026-01-01T12:00Z", "scanner_agent"),
                (sends[2], "click", "2026-01-01T12:00Z", "too_soon"),
                (None, "open", "2026-01-01T12:00Z", "google_image_proxy"),  # anonymous
            ]
            for send, kind, at, reason in events:
                conn.execute(
                    "INSERT INTO send_events (send_id, email_id, variation_id, kind, at, machine,"
                    " machine_reason) VALUES (%s, %s, %s, %s, %s, true, %s)",
                    [send, email, variation, kind, at, reason],
                )
            assert migrate(url)[:2] == ["0090_engagement", "0091_engagement_backfill"]
            counts = conn.execute(
                "SELECT id, opened_at::text, open_count, proxied_open_count, machine_open_count,"
                " machine_click_count FROM sends ORDER BY id"
            ).fetchall()
            flags = conn.execute(
                "SELECT machine, machine_reason, proxy FROM send_events ORDER BY id"
            ).fetchall()
            opened = conn.execute(
                "SELECT count(*) FILTER (WHERE opened) AS n FROM send_engagement"
            ).fetchone()
        assert [tuple(r.values())[1:] for r in counts] == [
            ("2026-01-01 09:00:00+00", 3, 2, 0, 0),  # the proxy open came first
            (None, 0, 0, 1, 1),
            (None, 0, 0, 0, 1),
        ]
        assert [tuple(r.values()) for r in flags] == [
            (False, None, "google_image_proxy"),
            (False, None, "yahoo_image_proxy"),
            (True, "apple_mpp", None),
            (True, "scanner_agent", None),
            (True, "too_soon", None),
            (False, None, "google_image_proxy"),
        ]
        assert opened is not None and opened["n"] == 1
    finally:
        drop_database(url)
