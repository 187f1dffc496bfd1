"""db/0070 on a database that already has subscribers: every row gets the signature Python
computes for it, and the backfill is no revision (updated_at stays, so the audience order and
the API's updated ranges do not change)."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from yoyo import get_backend, read_migrations

from shared.config import Settings
from shared.migrate import MIGRATIONS_DIR, drop_database, ensure_database, migrate, yoyo_url
from shared.subscribers.bits import property_bits

PROPERTIES = [{}, {"plan": "pro", "vip": True}, {"n": 5, "tags": ["a"]}, {"name": "Zoë"}]


def test_the_backfill_signs_every_row_and_touches_none(settings: Settings) -> None:
    base = psycopg.conninfo.conninfo_to_dict(settings.database_url)
    url = psycopg.conninfo.make_conninfo(**{**base, "dbname": f"tart_m70_{uuid.uuid4().hex[:8]}"})
    ensure_database(url)
    try:
        backend = get_backend(yoyo_url(url))
        before = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id < "0070")
        with backend.lock():
            backend.apply_migrations(backend.to_apply(before))
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            sender = conn.execute(
                "INSERT INTO senders (address, name, public_base_url, return_path_domain)"
                " VALUES ('m@example.com', 'M', 'https://l.example.com', 'example.com')"
                " RETURNING id"
            ).fetchone()
            assert sender is not None
            for i, properties in enumerate(PROPERTIES):
                conn.execute(
                    "INSERT INTO subscribers (sender_id, address, properties, updated_at)"
                    " VALUES (%s, %s, %s, '2020-01-01T00:00:00Z')",
                    [sender["id"], f"s{i}@example.com", Jsonb(properties)],
                )
            assert migrate(url)[0] == "0070_subscriber_property_bits"  # (later ones follow)
            rows = conn.execute(
                "SELECT properties, property_bits, updated_at::text AS updated FROM subscribers"
                " ORDER BY address"
            ).fetchall()
        assert [r["properties"] for r in rows] == PROPERTIES
        assert [r["property_bits"] for r in rows] == [property_bits(p) for p in PROPERTIES]
        assert {r["updated"] for r in rows} == {"2020-01-01 00:00:00+00"}
    finally:
        drop_database(url)
