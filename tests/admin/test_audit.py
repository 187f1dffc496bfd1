"""The audit log: admin changes are recorded with who, when, from where and the settings
before and after; refused forms and page views are not; the log is append-only; the owners'
page filters it and exports the same selection as CSV."""

from __future__ import annotations

import csv
import io
import uuid

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.admin.conftest import AdminClient, make_sender


def entries(conn: psycopg.Connection[dict], actor: str) -> list[dict]:
    return conn.execute(
        "SELECT * FROM audit_log WHERE actor_label = %s ORDER BY id", (actor,)
    ).fetchall()


def settings_form(name: str) -> dict[str, str]:
    return {
        "name": name, "public_base_url": "https://links.example.com",
        "return_path_domain": "bounces.example.com", "soft_bounce_limit": "3",
        "soft_bounce_days": "30",
    }  # fmt: skip


async def test_a_settings_change_is_recorded_with_before_and_after(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    sender_id = await make_sender(pool)
    await owner.client.get(f"/senders/{sender_id}")  # a page view changes nothing
    assert entries(sync_conn, owner.email) == []

    response = await owner.post(f"/senders/{sender_id}", settings_form("Renamed"))
    assert response.status_code == 303, response.text
    (entry,) = entries(sync_conn, owner.email)
    assert entry["actor_kind"] == "admin" and entry["actor_id"] == owner.user_id
    assert entry["action"] == "POST /senders/{sender_id}"
    assert entry["sender_id"] == sender_id and entry["target"] == {"sender_id": sender_id}
    assert str(entry["ip"]) == "127.0.0.1"
    assert entry["before"]["name"] == "News" and entry["after"]["name"] == "Renamed"
    assert entry["after"]["soft_bounce_limit"] == 3

    # A refused form changes nothing and is not recorded.
    bad = {**settings_form("x"), "soft_bounce_limit": "-5"}
    response = await owner.post(f"/senders/{sender_id}", bad)
    assert response.status_code == 400
    assert len(entries(sync_conn, owner.email)) == 1

    # Any refused form re-rendered with its errors is not recorded either; the accepted one is.
    url = f"/senders/{sender_id}/subscribers/new"
    assert (await owner.post(url, {"address": "not an address"})).status_code == 400
    assert len(entries(sync_conn, owner.email)) == 1
    assert (await owner.post(url, {"address": "audited@example.org"})).status_code == 303
    assert entries(sync_conn, owner.email)[-1]["action"] == (
        "POST /senders/{sender_id}/subscribers/new"
    )

    # Any other change is recorded too (here: an API key created).
    response = await owner.post(f"/senders/{sender_id}/keys", {"key_name": "ci"})
    assert response.status_code in (200, 303)
    actions = [e["action"] for e in entries(sync_conn, owner.email)]
    assert actions[-1] == "POST /senders/{sender_id}/keys"


def test_the_log_is_append_only(sync_conn: psycopg.Connection[dict]) -> None:
    sync_conn.execute(
        "INSERT INTO audit_log (actor_kind, actor_id, actor_label, action)"
        " VALUES ('admin', 1, 'append-only@example.com', 'POST /test')"
    )
    for statement in (
        "UPDATE audit_log SET action = 'forged' WHERE actor_label = 'append-only@example.com'",
        "DELETE FROM audit_log WHERE actor_label = 'append-only@example.com'",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            sync_conn.execute(statement)
    assert len(entries(sync_conn, "append-only@example.com")) == 1


async def test_page_filters_and_csv_export(
    owner: AdminClient,
    member: AdminClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
) -> None:
    sender_id = await make_sender(pool)
    other_id = await make_sender(pool)
    mark = uuid.uuid4().hex[:8]
    await owner.post(f"/senders/{sender_id}", settings_form(f"=HYPERLINK {mark}"))
    await owner.post(f"/senders/{other_id}", settings_form(f"Other {mark}"))

    page = await owner.client.get(f"/audit?sender_id={sender_id}&actor={owner.email}")
    assert page.status_code == 200
    assert f"HYPERLINK {mark}" in page.text and f"Other {mark}" not in page.text
    page = await owner.client.get("/audit?action=nothing-like-this")
    assert "No change matches." in page.text
    assert (await owner.client.get("/audit?since=yesterday")).status_code == 400
    assert (await member.client.get("/audit")).status_code == 404  # owners only
    assert (await member.client.get("/audit.csv")).status_code == 404

    export = await owner.client.get(f"/audit.csv?actor={owner.email}")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {int(r["sender_id"]) for r in rows} == {sender_id, other_id}
    assert all(r["actor"] == owner.email and r["ip"] == "127.0.0.1" for r in rows)
    (mine,) = [r for r in rows if int(r["sender_id"]) == sender_id]
    assert f"HYPERLINK {mark}" in mine["after"] and mine["before"].startswith("{")
    # Exporting changed nothing: no entry for the GETs.
    assert all(e["action"].startswith("POST ") for e in entries(sync_conn, owner.email))


async def test_sender_page_lists_its_esp_endpoints(
    owner: AdminClient, pool: AsyncConnectionPool, sync_conn: psycopg.Connection[dict]
) -> None:
    sender_id = await make_sender(pool)
    page = await owner.client.get(f"/senders/{sender_id}")
    assert "No provider configured." in page.text
    sync_conn.execute(
        "INSERT INTO esp_endpoints (sender_id, provider, topic_arns) VALUES (%s, 'ses', %s)",
        (sender_id, ["arn:aws:sns:eu-west-1:123456789012:tart-events"]),
    )
    sync_conn.execute(
        "INSERT INTO esp_endpoints (sender_id, provider, secret) VALUES (%s, 'mailgun', %s)",
        (sender_id, "key-never-shown-0123"),
    )
    page = await owner.client.get(f"/senders/{sender_id}")
    assert f"/esp/{sender_id}/ses" in page.text and "tart-events" in page.text
    assert f"/esp/{sender_id}/mailgun" in page.text
    assert "key-never-shown-0123" not in page.text
