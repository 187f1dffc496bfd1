"""Create the database if needed and apply ``db/*.sql`` with yoyo-migrations.

yoyo records each applied file in its ``_yoyo_migration`` table and holds a lock while it runs, so
running it twice, or from two pods at once, applies each file exactly once.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "db"


def yoyo_url(database_url: str) -> str:
    """yoyo's psycopg-3 backend is selected by the ``postgresql+psycopg`` scheme."""
    params = conninfo_to_dict(database_url)
    user = params.get("user", "postgres")
    password = f":{params['password']}" if params.get("password") else ""
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    return f"postgresql+psycopg://{user}{password}@{host}:{port}/{params.get('dbname', 'tart')}"


def ensure_database(database_url: str) -> bool:
    """Create the target database when it is missing. Returns True if it was created."""
    params = conninfo_to_dict(database_url)
    name = str(params.get("dbname", "tart"))
    maintenance = make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(database_url: str) -> None:
    params = conninfo_to_dict(database_url)
    name = str(params["dbname"])
    maintenance = make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def migrate(database_url: str) -> list[str]:
    """Apply every migration not yet recorded. Returns the ids applied (empty when up to date)."""
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    try:
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    finally:
        # left open, the connection holds the database until garbage collection, so a
        # CREATE DATABASE ... TEMPLATE or DROP DATABASE (without FORCE) right after would fail
        backend.connection.close()
    return [m.id for m in pending]
