# ruff: noqa: RUF001 - Turkish text
"""/v1/forms, /v1/topics, /v1/optin and subscribing with double opt-in through the API."""

from __future__ import annotations

import uuid

from psycopg_pool import AsyncConnectionPool

from tests.api.conftest import Tenant


async def _email(tenant: Tenant) -> int:
    answer = await tenant.client.post(
        "/v1/emails",
        json={
            "name": "Welcome",
            "bulk": False,
            "variations": [{"subject": "Hi", "plain_body": "Welcome"}],
        },
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def test_forms_crud_with_topics_snippet_and_isolation(tenant: Tenant, other: Tenant) -> None:
    topic = await tenant.client.put(
        "/v1/topics/news", json={"label_en": "News", "label_tr": "Haberler"}
    )
    assert topic.status_code == 201
    assert (
        await tenant.client.put("/v1/topics/news", json={"label_en": "Nieuws"})
    ).status_code == 200
    welcome = await _email(tenant)
    created = await tenant.client.post(
        "/v1/forms",
        json={"name": "Main", "fields": ["first_name"], "topics": ["news"],
              "field_labels": {"first_name": {"en": "Your first name", "tr": "Adınız"}},
              "allowed_origins": ["https://www.example.com"], "welcome_email_id": welcome},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    form = created.json()
    assert form["double_opt_in"] is True and form["locales"] == ["en", "tr"]
    assert form["hosted_url"] == f"https://links.example.com/f/{form['id']}"
    assert f'action="{form["hosted_url"]}"' in form["embed_html"]
    assert 'name="website"' in form["embed_html"] and "Nieuws" in form["embed_html"]
    assert "Your first name" in form["embed_html"]
    assert form["field_labels"] == {"first_name": {"en": "Your first name", "tr": "Adınız"}}
    assert "<script" not in form["embed_html"]
    listed = await tenant.client.get("/v1/forms")
    assert [f["id"] for f in listed.json()["items"]] == [form["id"]]
    replaced = await tenant.client.put(
        f"/v1/forms/{form['id']}", json={"name": "Renamed", "double_opt_in": False}
    )
    assert replaced.status_code == 200
    assert replaced.json()["name"] == "Renamed" and replaced.json()["topics"] == []
    # another sender sees nothing of it
    assert (await other.client.get(f"/v1/forms/{form['id']}")).status_code == 404
    assert (
        await other.client.put(f"/v1/forms/{form['id']}", json={"name": "x"})
    ).status_code == 404
    assert (await other.client.delete(f"/v1/forms/{form['id']}")).status_code == 404
    assert (await other.client.get("/v1/forms")).json()["items"] == []
    assert (await tenant.client.delete(f"/v1/forms/{form['id']}")).status_code == 204
    assert (await tenant.client.get(f"/v1/forms/{form['id']}")).status_code == 404


async def test_form_settings_are_validated(tenant: Tenant, other: Tenant) -> None:
    foreign_email = await _email(other)
    cases = [
        {"name": ""},
        {"name": "a\r\nb"},
        {"name": "x", "locales": ["de"]},
        {"name": "x", "locales": []},
        {"name": "x", "fields": ["Bad Name"]},
        {"name": "x", "fields": ["email"]},
        {"name": "x", "fields": ["a"], "field_labels": {"b": {"en": "B"}}},
        {"name": "x", "fields": ["a"], "field_labels": {"a": {"de": "A"}}},
        {"name": "x", "fields": ["a"], "field_labels": {"a": {"en": "A\nB"}}},
        {"name": "x", "topics": ["undeclared"]},
        {"name": "x", "allowed_origins": ["https://example.com/path"]},
        {"name": "x", "allowed_origins": ["*"]},
        {"name": "x", "redirect_url": "javascript:alert(1)"},
        {"name": "x", "welcome_email_id": foreign_email},
        {"name": "x", "welcome_email_id": 9223372036854775807},
        {"name": "x", "double_opt_in": "yes"},
        {"name": "x", "unknown": 1},
    ]
    for body in cases:
        answer = await tenant.client.post("/v1/forms", json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert (await tenant.client.get("/v1/forms")).json()["items"] == []
    assert (
        await tenant.client.put("/v1/topics/Bad-Key", json={"label_en": "x"})
    ).status_code == 422


async def test_confirmation_templates_default_and_custom(tenant: Tenant) -> None:
    default = await tenant.client.get("/v1/optin/templates/tr")
    assert default.status_code == 200
    assert default.json()["custom"] is False and "confirm_url" in default.json()["plain_body"]
    missing_link = await tenant.client.put(
        "/v1/optin/templates/en", json={"subject": "Hi", "plain_body": "no link here"}
    )
    assert missing_link.status_code == 422
    broken = await tenant.client.put(
        "/v1/optin/templates/en", json={"subject": "Hi", "plain_body": "{{ confirm_url "}
    )
    assert broken.status_code == 422
    saved = await tenant.client.put(
        "/v1/optin/templates/en",
        json={"subject": "Confirm {{ sender_name }}", "plain_body": "Go: {{ confirm_url }}"},
    )
    assert saved.status_code == 200 and saved.json()["custom"] is True
    assert (await tenant.client.get("/v1/optin/templates/en")).json()["custom"] is True
    reset = await tenant.client.delete("/v1/optin/templates/en")
    assert reset.json()["custom"] is False
    assert (await tenant.client.get("/v1/optin/templates/de")).status_code == 422


async def test_welcome_email_belongs_to_the_sender(tenant: Tenant, other: Tenant) -> None:
    mine, theirs = await _email(tenant), await _email(other)
    assert (
        await tenant.client.put("/v1/optin/welcome", json={"email_id": theirs})
    ).status_code == 422
    assert (await tenant.client.put("/v1/optin/welcome", json={"email_id": mine})).json() == {
        "email_id": mine
    }
    assert (await tenant.client.get("/v1/optin/welcome")).json() == {"email_id": mine}
    assert (await other.client.get("/v1/optin/welcome")).json() == {"email_id": None}


async def test_api_create_with_double_opt_in_starts_pending(
    tenant: Tenant, pool: AsyncConnectionPool
) -> None:
    address = f"doi-{uuid.uuid4().hex[:8]}@example.org"
    created = await tenant.client.post(
        "/v1/subscribers", json={"address": address, "double_opt_in": True}
    )
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "pending"
    subscriber_id = created.json()["id"]
    again = await tenant.client.post(
        "/v1/subscribers", json={"address": address, "double_opt_in": True}
    )
    assert again.status_code == 409
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM confirmations WHERE subscriber_id = %s", [subscriber_id]
        )
        row = await cur.fetchone()
        assert row is not None and row["n"] == 1
        cur = await conn.execute(
            "SELECT action, source FROM consent_records WHERE subscriber_id = %s", [subscriber_id]
        )
        assert [(r["action"], r["source"]) for r in await cur.fetchall()] == [("subscribe", "api")]
    pending = await tenant.client.get("/v1/subscribers", params={"state": "pending"})
    assert [s["id"] for s in pending.json()["items"]] == [subscriber_id]
    active = await tenant.client.get("/v1/subscribers", params={"state": "active"})
    assert subscriber_id not in [s["id"] for s in active.json()["items"]]
    plain = await tenant.client.post("/v1/subscribers", json={"address": f"x{address}"})
    assert plain.json()["state"] == "active"
