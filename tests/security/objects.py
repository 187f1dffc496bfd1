"""Objects of the newer kinds (topics, forms, confirmation templates, segments, automations, ESP
endpoints) for the isolation matrices: made for one sender, and checked to be untouched after
another sender's member or key has been refused them."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection

from shared.automations import service as automations
from shared.automations.service import Step
from shared.forms import repository as forms
from shared.forms.service import FormSettings
from shared.optin import repository as optin
from shared.segments import service as segments
from shared.topics import repository as topics
from tests.security.conftest import Tenant

# What the objects are called, so a change by another sender would show.
NAME = "b-secret"
SUBJECT = "B's confirmation"
CONFIRM_BODY = "Confirm: {{ confirm_url }}"


def _unique_key() -> str:
    # A key no other sender has, so "A's sender with B's topic key" names nothing of A's.
    return f"iso_{uuid.uuid4().hex[:12]}"


async def newer_objects(conn: AsyncConnection[Any], sender_id: int) -> dict[str, Any]:
    """One topic, form, custom confirmation template, segment and automation of sender_id,
    written through the shared repositories and services (as the admin pages do)."""
    key = _unique_key()
    await topics.put_topic(conn, sender_id, key, label_en=NAME, label_tr=NAME, position=0)
    form = await forms.create_form(
        conn, sender_id, FormSettings(name=NAME, topics=[key]).as_params()
    )
    await optin.put_template(
        conn, sender_id, "tr", subject=SUBJECT, plain_body=CONFIRM_BODY, html_body=None
    )
    segment = await segments.create(conn, sender_id, NAME, 'plan = "pro"')
    automation = await automations.create(
        conn, sender_id, name=NAME, trigger="subscriber_created", segment_id=None,
        date_property=None, steps=[Step("wait", wait_seconds=3600),
                                   Step("condition", segment_id=segment["id"])],
        active=True,
    )  # fmt: skip
    return {
        "topic": key, "form": form["id"], "segment": segment["id"], "automation": automation["id"],
    }  # fmt: skip


async def newer_objects_untouched(
    conn: AsyncConnection[Any], sender_id: int, objs: dict[str, Any]
) -> list[str]:
    """The kinds whose object of sender_id is gone or changed (empty when all are as made)."""
    row = await (
        await conn.execute(
            "SELECT"
            " EXISTS (SELECT FROM sender_topics WHERE sender_id = %(s)s AND key = %(topic)s"
            "         AND label_en = %(name)s) AS topic,"
            " EXISTS (SELECT FROM forms WHERE sender_id = %(s)s AND id = %(form)s"
            "         AND name = %(name)s) AS form,"
            " EXISTS (SELECT FROM confirmation_templates WHERE sender_id = %(s)s"
            "         AND language = 'tr' AND subject = %(subject)s) AS template,"
            " EXISTS (SELECT FROM segments WHERE sender_id = %(s)s AND id = %(segment)s"
            "         AND name = %(name)s) AS segment,"
            " EXISTS (SELECT FROM automations WHERE sender_id = %(s)s AND id = %(automation)s"
            "         AND name = %(name)s AND state = 'active'"
            "         AND (SELECT count(*) FROM automation_steps"
            "              WHERE automation_id = %(automation)s) = 2) AS automation",
            {**objs, "s": sender_id, "name": NAME, "subject": SUBJECT},
        )
    ).fetchone()
    assert row is not None
    kinds = ("topic", "form", "template", "segment", "automation")
    values = row if isinstance(row, dict) else dict(zip(kinds, row, strict=True))
    return [kind for kind, ok in values.items() if not ok]


async def newer_api_objects(t: Tenant) -> dict[str, Any]:
    """The same kinds made through the API with the tenant's key, plus an ESP endpoint."""
    c = t.client
    key = _unique_key()
    answers = [
        await c.put(f"/v1/topics/{key}", json={"label_en": NAME}),
        await c.post("/v1/forms", json={"name": NAME, "topics": [key]}),
        await c.put(
            "/v1/optin/templates/tr", json={"subject": SUBJECT, "plain_body": CONFIRM_BODY}
        ),
        await c.post("/v1/segments", json={"name": NAME, "filter": 'plan = "pro"'}),
        await c.put("/v1/sender/esp/mailgun", json={"signing_key": f"key-{uuid.uuid4().hex}"}),
    ]
    segment = answers[3].json()
    steps = [{"kind": "wait", "days": 1}, {"kind": "condition", "segment_id": segment["id"]}]
    automation = {"name": NAME, "trigger": "subscriber_created", "steps": steps}
    answers.append(await c.post("/v1/automations", json=automation))
    for answer in answers:
        assert answer.status_code in (200, 201), (answer.request.url, answer.text[:300])
    return {
        "topic": key, "form": answers[1].json()["id"], "segment": segment["id"],
        "automation": answers[5].json()["id"],
    }  # fmt: skip
