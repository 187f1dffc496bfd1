"""The admin's form pages: topics, create with inline errors, edit, snippet, confirmation mail
templates, default welcome email, delete; CSRF as on every admin form."""

from __future__ import annotations

import html

from psycopg_pool import AsyncConnectionPool

from tests.admin.conftest import AdminClient, make_sender


async def test_forms_pages_topics_snippet_templates_and_delete(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    sender_id = await make_sender(pool)
    base = f"/senders/{sender_id}/forms"
    assert "No form yet" in (await owner.client.get(base)).text
    bad_topic = await owner.post(f"{base}/topics", {"key": "Bad Key", "label_en": "x"})
    assert bad_topic.status_code == 400 and "lower-case letters" in bad_topic.text
    topic = await owner.post(
        f"{base}/topics", {"key": "news", "label_en": "News", "label_tr": "Haberler"}
    )
    assert topic.status_code == 303
    refused = await owner.client.post(
        f"{base}/new",
        data={"csrf_token": owner.csrf, "name": "", "locales": ["de"], "fields": "email",
              "allowed_origins": "https://x.example/path"},
    )  # fmt: skip
    assert refused.status_code == 400
    assert "required" in refused.text and "an origin is scheme://host" in refused.text
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM forms WHERE sender_id = %s", [sender_id]
        )
        row = await cur.fetchone()
        assert row is not None and row["n"] == 0
    created = await owner.client.post(
        f"{base}/new",
        data={"csrf_token": owner.csrf, "name": "Main <b>", "locales": ["en", "tr"],
              "fields": "first_name, company", "topics": ["news"], "double_opt_in": "on",
              "field_labels": "first_name.tr = Adin\nfirst_name.en = First name",
              "allowed_origins": "https://www.example.com"},
    )  # fmt: skip
    assert created.status_code == 303, created.text
    form_url = created.headers["location"].split("?")[0]
    page = await owner.client.get(form_url)
    assert page.status_code == 200
    assert "Main &lt;b&gt;" in page.text  # escaped
    snippet = html.unescape(page.text.split("readonly>", 1)[1].split("</textarea>", 1)[0])
    form_id = form_url.rsplit("/", 1)[1]
    assert f'<form method="post" action="https://links.example.com/f/{form_id}"' in snippet
    assert 'name="company"' in snippet and 'value="news"' in snippet
    assert "First name" in snippet and "first_name.tr = Adin" in page.text
    bad_labels = await owner.client.post(
        form_url,
        data={"csrf_token": owner.csrf, "name": "x", "locales": ["en"],
              "fields": "first_name", "field_labels": "no equals sign"},
    )  # fmt: skip
    assert bad_labels.status_code == 400 and "field.language = label" in bad_labels.text
    saved = await owner.client.post(
        form_url,
        data={"csrf_token": owner.csrf, "name": "Renamed", "locales": ["tr"], "fields": ""},
    )
    assert saved.status_code == 303
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT name, locales, double_opt_in, topics FROM forms WHERE id = %s", [form_id]
        )
        row = await cur.fetchone()
        assert row == {"name": "Renamed", "locales": ["tr"], "double_opt_in": False, "topics": []}
    no_csrf = await owner.client.post(f"{form_url}/delete", data={})
    assert no_csrf.status_code in (400, 403)
    # confirmation mail: a template without the link is refused, a good one saved, then reset
    optin = f"{base}/optin"
    assert "built-in" in (await owner.client.get(optin)).text
    missing = await owner.post(
        f"{optin}/templates/tr", {"subject": "Onay", "plain_body": "link yok"}
    )
    assert missing.status_code == 400 and "confirm_url" in missing.text
    good = await owner.post(
        f"{optin}/templates/tr", {"subject": "Onay", "plain_body": "Onay: {{ confirm_url }}"}
    )
    assert good.status_code == 303
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT subject FROM confirmation_templates WHERE sender_id = %s", [sender_id]
        )
        assert [r["subject"] for r in await cur.fetchall()] == ["Onay"]
    await owner.post(f"{optin}/templates/tr", {"reset": "on"})
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM confirmation_templates WHERE sender_id = %s", [sender_id]
        )
        row = await cur.fetchone()
        assert row is not None and row["n"] == 0
    deleted = await owner.post(f"{form_url}/delete")
    assert deleted.status_code == 303
    assert (await owner.client.get(form_url)).status_code == 404


async def test_another_senders_form_is_not_found(
    owner: AdminClient, pool: AsyncConnectionPool
) -> None:
    mine, theirs = await make_sender(pool), await make_sender(pool)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO forms (sender_id, name) VALUES (%s, 'theirs') RETURNING id", [theirs]
        )
        row = await cur.fetchone()
        assert row is not None
    assert (await owner.client.get(f"/senders/{mine}/forms/{row['id']}")).status_code == 404
    refused = await owner.post(f"/senders/{mine}/forms/{row['id']}/delete")
    assert refused.status_code == 404
    huge = await owner.client.get(f"/senders/{mine}/forms/99999999999999999999")
    assert huge.status_code == 404
