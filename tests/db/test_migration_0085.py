"""db/0085 on a database whose senders have the single DKIM key columns: each key moves to
sender_dkim_keys as the active key, the columns go, and the sender keeps signing with it."""

from __future__ import annotations

import uuid

import dkim
import psycopg
from psycopg.rows import dict_row
from yoyo import get_backend, read_migrations

from services.sender.message import compose
from shared.config import Settings
from shared.migrate import MIGRATIONS_DIR, drop_database, ensure_database, migrate, yoyo_url
from shared.senders.dkim import generate_private_key
from shared.sends.repository import Q as SENDS
from tests.sender.conftest import dkim_dns


def test_each_senders_key_becomes_its_active_key_and_still_signs(settings: Settings) -> None:
    rsa_pem, ed25519_pem = (generate_private_key(a) for a in ("rsa-sha256", "ed25519-sha256"))
    base = psycopg.conninfo.conninfo_to_dict(settings.database_url)
    url = psycopg.conninfo.make_conninfo(**{**base, "dbname": f"tart_m85_{uuid.uuid4().hex[:8]}"})
    ensure_database(url)
    try:
        backend = get_backend(yoyo_url(url))
        before = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id < "0085")
        with backend.lock():
            backend.apply_migrations(backend.to_apply(before))
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            ids = {}
            for name, selector, algorithm, pem in (
                ("rsa", "s2019", "rsa-sha256", rsa_pem),
                ("ed", "ed1", "ed25519-sha256", ed25519_pem),
                ("none", None, "rsa-sha256", None),
            ):
                row = conn.execute(
                    "INSERT INTO senders (address, name, public_base_url, return_path_domain,"
                    " dkim_selector, dkim_algorithm, dkim_private_key) VALUES (%s, 'M',"
                    " 'https://l.example.com', 'example.com', %s, %s, %s) RETURNING id",
                    [f"{name}@{name}.example.com", selector, algorithm, pem],
                ).fetchone()
                assert row is not None
                ids[name] = row["id"]
            assert migrate(url)[0] == "0085_sender_dkim_keys"
            keys = conn.execute(
                "SELECT sender_id, selector, algorithm, private_key, state::text AS state"
                " FROM sender_dkim_keys ORDER BY id"
            ).fetchall()
            assert [(k["sender_id"], k["selector"], k["algorithm"], k["state"]) for k in keys] == [
                (ids["rsa"], "s2019", "rsa-sha256", "active"),
                (ids["ed"], "ed1", "ed25519-sha256", "active"),
            ]
            assert [k["private_key"] for k in keys] == [rsa_pem, ed25519_pem]
            columns = conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'senders' AND column_name LIKE 'dkim%%'"
            ).fetchall()
            assert columns == []
            contexts = {
                name: conn.execute(SENDS.sender_context.sql, {"sender_id": sender_id}).fetchone()
                for name, sender_id in ids.items()
            }
        variation = {"id": 1, "subject": "Hi", "plain_body": "Hello"}
        subscriber = {"address": "a@example.org"}
        for name, pem in (("rsa", rsa_pem), ("ed", ed25519_pem)):
            out = compose(contexts[name], variation, subscriber, "tok", bulk=True,
                          track_clicks=False, email_id=1)  # fmt: skip
            assert dkim.verify(out.data, dnsfunc=dkim_dns(pem)), name
        unsigned = compose(contexts["none"], variation, subscriber, "tok", bulk=True,
                           track_clicks=False, email_id=1)  # fmt: skip
        assert b"DKIM-Signature" not in unsigned.data
    finally:
        drop_database(url)
