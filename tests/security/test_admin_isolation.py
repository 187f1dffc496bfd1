"""The admin isolation matrix, generated from the admin app's routes: a member assigned to
sender A asks for every parametrised route with sender B's objects (and with A's sender id but
B's child objects), and must get 404 every time. A route with a path parameter this file does
not know fails the test, so the matrix cannot fall behind the admin app."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from shared.admins import repository as admins
from shared.senders import repository as senders
from shared.senders.dkim import generate_private_key
from tests.admin.conftest import AdminClient, make_admin
from tests.security.objects import newer_objects, newer_objects_untouched

# path parameter -> key in the objects dict
PARAMS = {
    "sender_id": "sender",
    "subscriber_id": "sub",
    "email_id": "email",
    "variation_id": "var",
    "key_id": "key",
    "job_id": "job",
    "report_id": "report",  # response report under /senders/..., DMARC report under /dmarc
    "inbound_id": "inbound",
    "user_id": "user",
    "dkim_key_id": "dkim",
    "layout_id": "layout",
    "form_id": "form",
    "segment_id": "segment",
    "automation_id": "automation",
    "key": "topic",  # /forms/topics/{key}/delete
}
# Path parameters that name no object: every value a route takes, so each is tried (an owner
# gets past them, see test_the_fixed_values_are_valid; a member must get 404 all the same).
FIXED = {
    "action": ("pause", "resume", "delete"),  # /automations/{automation_id}/{action}
    "language": ("tr",),  # /forms/optin/templates/{language}, B has a custom one
}


def admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route, walking included routers (FastAPI keeps them nested)."""
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "path") and getattr(route, "methods", None):
                found.extend((m, prefix + route.path) for m in sorted(route.methods - {"HEAD"}))

    walk(list(app.routes), "")
    return found


def parameterised(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in admin_routes(app) if "{" in p]


async def objects_of(pool: AsyncConnectionPool, sender_id: int) -> dict[str, Any]:
    """One of each object kind the admin pages address, owned by sender_id."""
    async with pool.connection() as conn:
        domain = (await senders.get_sender(conn, sender_id))["address"].split("@")[1]

        async def one(sql: str, params: list[Any]) -> int:
            row = await (await conn.execute(sql, params)).fetchone()
            assert row is not None
            return int(row[0] if not isinstance(row, dict) else row["id"])

        sub = await one(
            "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s) RETURNING id",
            [sender_id, f"s-{uuid.uuid4().hex[:10]}@example.org"],
        )
        email = await one(
            "INSERT INTO emails (sender_id, name) VALUES (%s, 'secret') RETURNING id", [sender_id]
        )
        var = await one(
            "INSERT INTO variations (email_id, subject, plain_body) VALUES (%s, 's', 'b')"
            " RETURNING id",
            [email],
        )
        _, key_row = await senders.create_api_key(conn, sender_id, "k")
        dkim = await one(
            "INSERT INTO sender_dkim_keys (sender_id, selector, algorithm, private_key)"
            " VALUES (%s, 'iso', 'ed25519-sha256', %s) RETURNING id",
            [sender_id, generate_private_key("ed25519-sha256")],
        )
        job = await one("INSERT INTO import_jobs (sender_id) VALUES (%s) RETURNING id", [sender_id])
        layout = await one(
            "INSERT INTO layouts (sender_id, name, html_body, plain_body, transactional)"
            " VALUES (%s, 'iso', '{{ content }}', '{{ content }}', true) RETURNING id",
            [sender_id],
        )
        inbound = await one(
            "INSERT INTO inbound_messages (sha256, raw, size, source) VALUES (%s, 'x', 1, 'pipe')"
            " RETURNING id",
            [uuid.uuid4().bytes * 2],
        )
        report = await one(
            "INSERT INTO response_reports (inbound_id, sender_id, subscriber_id, kind)"
            " VALUES (%s, %s, %s, 'bounce') RETURNING id",
            [inbound, sender_id, sub],
        )
        now = datetime.now(UTC)
        dmarc = await one(
            "INSERT INTO dmarc_aggregate_reports (org_name, report_id, domain, begin_at, end_at)"
            " VALUES ('isp.example', %s, %s, %s, %s) RETURNING id",
            [uuid.uuid4().hex, domain, now, now],
        )
        newer = await newer_objects(conn, sender_id)
    user_email = await make_admin(pool, "member")
    async with pool.connection() as conn:
        user = await admins.find_user_by_email(conn, user_email)
        assert user is not None
        await admins.set_user_senders(conn, user["id"], [sender_id])
    return {
        "sender": sender_id, "sub": sub, "email": email, "var": var, "key": key_row["id"],
        "job": job, "report": report, "dmarc": dmarc, "inbound": inbound, "user": user["id"],
        "dkim": dkim, "layout": layout, **newer,
    }  # fmt: skip


def fill(template: str, objs: dict[str, Any], sender: int) -> list[str]:
    """The paths of a route for sender's id and objs, one per fixed value of its parameters."""

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "sender_id":
            return str(sender)
        if name == "report_id" and "/dmarc" in template:
            return str(objs["dmarc"])
        return str(objs[PARAMS[name]])

    paths = [re.sub(r"{(\w+)}", lambda m: value(m) if m.group(1) not in FIXED else m[0], template)]
    for name, values in FIXED.items():
        if f"{{{name}}}" in template:
            paths = [p.replace(f"{{{name}}}", v) for p in paths for v in values]
    return paths


def names_a_child(template: str) -> bool:
    """Whether the route names an object below its sender (so A's sender id with B's child
    object is a case of its own)."""
    return any(name in PARAMS and name != "sender_id" for name in re.findall(r"{(\w+)}", template))


def test_every_admin_path_parameter_is_in_the_matrix(admin_app: FastAPI) -> None:
    routes = parameterised(admin_app)
    assert len(routes) >= 40, routes
    unknown = {
        (m, p, name)
        for m, p in routes
        for name in re.findall(r"{(\w+)}", p)
        if name not in PARAMS and name not in FIXED
    }
    assert not unknown, f"add these path parameters to the admin isolation matrix: {unknown}"


async def test_admin_isolation_matrix(
    admin_app: FastAPI, member: AdminClient, pool: AsyncConnectionPool
) -> None:
    a_id, b_id = await make_sender_pair(pool)
    async with pool.connection() as conn:
        await admins.set_user_senders(conn, member.user_id, [a_id])
    b = await objects_of(pool, b_id)
    failures = []
    checked = 0
    for method, template in parameterised(admin_app):
        paths = fill(template, b, b_id)
        if "{sender_id}" in template and names_a_child(template):
            paths += fill(template, b, a_id)  # A's sender id, B's child objects
        for path in paths:
            if method == "GET":
                r = await member.client.get(path)
            else:
                r = await member.client.request(
                    method, path, data={"csrf_token": member.csrf, "name": "x"}
                )
            checked += 1
            if r.status_code != 404:
                failures.append((method, template, path, r.status_code, r.text[:160]))
    assert checked >= 90
    assert not failures, failures
    # B's objects are untouched by the member's POSTs.
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM subscribers WHERE id = %s)"
                " + (SELECT count(*) FROM emails WHERE id = %s)"
                " + (SELECT count(*) FROM variations WHERE id = %s)"
                " + (SELECT count(*) FROM api_keys WHERE id = %s AND revoked_at IS NULL)"
                " + (SELECT count(*) FROM senders WHERE id = %s)"
                " + (SELECT count(*) FROM admin_users WHERE id = %s AND role = 'member')"
                " + (SELECT count(*) FROM sender_dkim_keys WHERE id = %s AND state = 'next')",
                [b["sub"], b["email"], b["var"], b["key"], b_id, b["user"], b["dkim"]],
            )
        ).fetchone()
        assert await newer_objects_untouched(conn, b_id, b) == []
    assert row is not None and list(row.values() if isinstance(row, dict) else row) == [7]


async def test_the_matrix_objects_are_real(
    admin_app: FastAPI, owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    """The same GETs by an owner find B's objects, so the member's 404s mean refusal, not
    made-up ids."""
    _, b_id = await make_sender_pair(pool)
    b = await objects_of(pool, b_id)
    found = []
    for method, template in parameterised(admin_app):
        if method == "GET" and not template.endswith("/delete"):
            (path,) = fill(template, b, b_id)
            r = await owner.client.get(path)
            if r.status_code == 200:
                found.append(template)
    assert len(found) >= 18, found
    for kind in ("forms/{form_id}", "segments/{segment_id}", "automations/{automation_id}"):
        assert f"/senders/{{sender_id}}/{kind}" in found, (kind, found)


async def test_the_fixed_values_are_valid(
    admin_app: FastAPI, owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    """An owner's POSTs with the fixed values get past the route's own 404 (no such action, no
    such language), so the member's 404s for them come from the sender check; B's topic key
    is B's own (the owner deletes it)."""
    _, b_id = await make_sender_pair(pool)
    b = await objects_of(pool, b_id)
    tried = []
    for method, template in parameterised(admin_app):
        if method == "POST" and (set(re.findall(r"{(\w+)}", template)) & {*FIXED, "key"}):
            for path in fill(template, b, b_id):  # pause, resume, then delete
                data = {
                    "csrf_token": owner.csrf,
                    "subject": "Hi",
                    "plain_body": "{{ confirm_url }}",
                }
                r = await owner.client.post(path, data=data)
                assert r.status_code == 303, (path, r.status_code, r.text[:300])
                tried.append(path)
    assert len(tried) == 5, tried
    async with pool.connection() as conn:
        gone = await newer_objects_untouched(conn, b_id, b)
    assert sorted(gone) == ["automation", "template", "topic"], gone


async def make_sender_pair(pool: AsyncConnectionPool) -> tuple[int, int]:
    ids = []
    async with pool.connection() as conn:
        for _ in range(2):
            domain = f"d{uuid.uuid4().hex[:10]}.example"
            row = await senders.create_sender(
                conn, address=f"news@{domain}", name="News",
                public_base_url=f"https://links.{domain}",
            )  # fmt: skip
            ids.append(int(row["id"]))
    return ids[0], ids[1]
