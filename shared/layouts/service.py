"""Layouts: checks and the default layout. A layout's templates are Jinja2 in the same sandbox
as bodies; ``{{ content }}`` receives the rendered body. A layout that is not transactional
must show the unsubscribe link in both parts (CAN-SPAM, and what list mail needs); a
transactional layout may omit it. The default layout shows the unsubscribe link, the
preferences link when the message has one, and the sender's postal address."""

from __future__ import annotations

import re
from typing import Any

from shared.db import Conn, Row
from shared.errors import Conflict, NotFound, Unprocessable
from shared.layouts import repository as repo
from shared.rendering import validate_templates

DEFAULT_NAME = "Default"
DEFAULT_HTML = """<!doctype html>
<html><body style="margin:0;padding:0;font-family:Arial,Helvetica,sans-serif">
<div style="max-width:640px;margin:0 auto;padding:24px">
{{ content }}
</div>
<div style="max-width:640px;margin:0 auto;padding:16px 24px;font-size:12px;color:#555555;
border-top:1px solid #dddddd">
<p>{% if postal_address %}{{ postal_address }}<br>{% endif %}
<a href="{{ unsubscribe_url }}" style="color:#555555">Unsubscribe</a>
{% if preferences_url %} &middot;
<a href="{{ preferences_url }}" style="color:#555555">Email preferences</a>{% endif %}</p>
</div>
</body></html>
"""
DEFAULT_PLAIN = """{{ content }}

--
{% if postal_address %}{{ postal_address }}
{% endif %}Unsubscribe: {{ unsubscribe_url }}
{% if preferences_url %}Email preferences: {{ preferences_url }}
{% endif %}"""

_CONTENT = re.compile(r"\{\{-?\s*content\s*-?\}\}")
_UNSUBSCRIBE = re.compile(r"\{\{-?\s*unsubscribe_url\s*-?\}\}")


def check_layout(html_body: str, plain_body: str, *, transactional: bool) -> None:
    """Refuse a layout without ``{{ content }}`` in each part, a bulk layout without the
    unsubscribe link in each part, or a template that does not compile (Unprocessable)."""
    for name, body in (("html_body", html_body), ("plain_body", plain_body)):
        if not _CONTENT.search(body):
            raise Unprocessable(f"{name}: must contain {{{{ content }}}}")
        if not transactional and not _UNSUBSCRIBE.search(body):
            raise Unprocessable(
                f"{name}: must contain {{{{ unsubscribe_url }}}} (only a transactional "
                "layout may omit the unsubscribe link)"
            )
    validate_templates("layout", plain_body, html_body)


async def list_all(conn: Conn, sender_id: int) -> list[Row]:
    return await repo.list_layouts(conn, sender_id)


async def get(conn: Conn, sender_id: int, layout_id: int) -> Row:
    layout = await repo.get_layout(conn, sender_id, layout_id)
    if layout is None:
        raise NotFound(f"layout {layout_id} not found")
    return layout


async def create(conn: Conn, sender_id: int, values: dict[str, Any]) -> Row:
    """A new layout; ``html_body`` / ``plain_body`` left out (None) take the default's."""
    values = {
        **values,
        "html_body": values.get("html_body") or DEFAULT_HTML,
        "plain_body": values.get("plain_body") or DEFAULT_PLAIN,
        "transactional": bool(values.get("transactional")),
    }
    check_layout(values["html_body"], values["plain_body"],
                 transactional=values["transactional"])  # fmt: skip
    row = await repo.create_layout(conn, sender_id, values)
    if row is None:
        raise Conflict(f"a layout named {values['name']!r} exists")
    return row


async def update(conn: Conn, sender_id: int, layout_id: int, changes: dict[str, Any]) -> Row:
    """Change some fields of a layout; the whole result is checked. A layout used by a bulk
    email cannot become transactional (its unsubscribe link must stay)."""
    current = await get(conn, sender_id, layout_id)
    values = {k: current[k] for k in ("name", "html_body", "plain_body", "transactional")}
    values.update({k: v for k, v in changes.items() if v is not None})
    check_layout(values["html_body"], values["plain_body"],
                 transactional=values["transactional"])  # fmt: skip
    becomes_transactional = values["transactional"] and not current["transactional"]
    if becomes_transactional and await repo.bulk_emails_using(conn, sender_id, layout_id):
        raise Conflict("bulk emails use this layout: it must keep its unsubscribe link")
    row = await repo.update_layout(conn, sender_id, layout_id, values)
    if row is None:
        raise Conflict(f"a layout named {values['name']!r} exists")
    return row


async def delete(conn: Conn, sender_id: int, layout_id: int) -> None:
    if not await repo.delete_layout(conn, sender_id, layout_id):
        raise NotFound(f"layout {layout_id} not found")


async def check_choice(
    conn: Conn, sender_id: int, layout_id: int | None, *, transactional: bool
) -> None:
    """An email may pick one of its sender's layouts; a bulk email only one that is not
    transactional (it must carry the unsubscribe link)."""
    if layout_id is None:
        return
    layout = await repo.get_layout(conn, sender_id, layout_id)
    if layout is None:
        raise Unprocessable(f"layout_id: layout {layout_id} not found")
    if layout["transactional"] and not transactional:
        raise Unprocessable("layout_id: a bulk email needs a layout with the unsubscribe link")
