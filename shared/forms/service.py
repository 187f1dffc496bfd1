"""The rules of a form's settings, checked once for the API and the admin, and the HTML snippet
a sender pastes into their own site."""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from shared.db import Conn, Row
from shared.errors import Unprocessable
from shared.forms import repository as forms
from shared.limits import (
    FORM_FIELDS_MAX,
    FORM_LABEL_MAX,
    FORM_NAME_MAX,
    FORM_ORIGINS_MAX,
    FORM_THANK_YOU_MAX,
    FORM_TOPICS_MAX,
    FORM_URL_MAX,
)
from shared.senders import repository as senders
from shared.topics import repository as topics

LANGUAGES = ("en", "tr")
FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Names the form itself uses, so a property cannot take them.
RESERVED_FIELDS = frozenset({"email", "address", "locale", "topics", "ts", "website", "form"})
ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$")
URL_RE = re.compile(r"^https?://[^\s\x00]+$")
MAX_FIELDS, MAX_TOPICS, MAX_ORIGINS = FORM_FIELDS_MAX, FORM_TOPICS_MAX, FORM_ORIGINS_MAX
MAX_NAME, MAX_THANK_YOU, MAX_URL, MAX_LABEL = (
    FORM_NAME_MAX,
    FORM_THANK_YOU_MAX,
    FORM_URL_MAX,
    FORM_LABEL_MAX,
)


@dataclass
class FormSettings:
    """Everything a form's owner sets (the columns of ``forms`` but its ids and times)."""

    name: str
    locales: list[str] = field(default_factory=lambda: list(LANGUAGES))
    fields: list[str] = field(default_factory=list)
    # per field, per language: {"first_name": {"en": "First name", "tr": "Ad"}}
    field_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)
    thank_you_text: str | None = None
    redirect_url: str | None = None
    double_opt_in: bool = True
    allowed_origins: list[str] = field(default_factory=list)
    welcome_email_id: int | None = None

    def as_params(self) -> dict[str, Any]:
        params = asdict(self)
        params["field_labels"] = Jsonb(self.field_labels)
        return params


def problems(settings: FormSettings) -> dict[str, str]:
    """What is wrong with the settings on their own, by field name (empty: nothing)."""
    errors: dict[str, str] = {}
    name = settings.name.strip()
    if not name or len(name) > MAX_NAME or any(c in name for c in "\r\n\x00"):
        errors["name"] = f"required, one line, at most {MAX_NAME} characters"
    if not settings.locales or any(x not in LANGUAGES for x in settings.locales):
        errors["locales"] = "one or more of: en, tr"
    elif len(set(settings.locales)) != len(settings.locales):
        errors["locales"] = "each language once"
    bad = [f for f in settings.fields if not FIELD_RE.match(f) or f in RESERVED_FIELDS]
    if bad:
        errors["fields"] = (
            f"{bad[0]!r}: a property name is lower-case letters, digits and _ "
            f"(not {', '.join(sorted(RESERVED_FIELDS))})"
        )
    elif len(settings.fields) > MAX_FIELDS or len(set(settings.fields)) != len(settings.fields):
        errors["fields"] = f"at most {MAX_FIELDS}, each once"
    for name, labels in settings.field_labels.items():
        if name not in settings.fields:
            errors["field_labels"] = f"{name!r} is not one of the form's fields"
        elif any(
            language not in LANGUAGES
            or not isinstance(label, str)
            or not label.strip()
            or len(label) > MAX_LABEL
            or any(c in label for c in "\r\n\x00")
            for language, label in labels.items()
        ):
            errors["field_labels"] = (
                f"{name!r}: a label per language (en, tr), one line, at most {MAX_LABEL} characters"
            )
    if len(settings.topics) > MAX_TOPICS or len(set(settings.topics)) != len(settings.topics):
        errors["topics"] = f"at most {MAX_TOPICS}, each once"
    elif set(settings.topics) & set(settings.fields):
        errors["topics"] = "a property cannot be both a text field and a topic"
    text = settings.thank_you_text
    if text is not None and (len(text) > MAX_THANK_YOU or "\x00" in text):
        errors["thank_you_text"] = f"at most {MAX_THANK_YOU} characters"
    url = settings.redirect_url
    if url is not None and (len(url) > MAX_URL or not URL_RE.match(url)):
        errors["redirect_url"] = "an http:// or https:// URL"
    bad_origins = [o for o in settings.allowed_origins if not ORIGIN_RE.match(o)]
    if bad_origins:
        errors["allowed_origins"] = (
            f"{bad_origins[0]!r}: an origin is scheme://host[:port], without a path"
        )
    elif len(settings.allowed_origins) > MAX_ORIGINS:
        errors["allowed_origins"] = f"at most {MAX_ORIGINS}"
    return errors


async def check(conn: Conn, sender_id: int, settings: FormSettings) -> dict[str, str]:
    """``problems`` plus what needs the database: the topics are declared and the welcome email
    is the sender's own."""
    errors = problems(settings)
    if "topics" not in errors and settings.topics:
        declared = await forms.declared_topics(conn, sender_id, settings.topics)
        missing = [t for t in settings.topics if t not in declared]
        if missing:
            errors["topics"] = f"{missing[0]!r} is not one of the sender's topics"
    email_id = settings.welcome_email_id
    if email_id is not None and not await forms.email_exists(conn, sender_id, email_id):
        errors["welcome_email_id"] = f"email {email_id} not found"
    return errors


async def validate(conn: Conn, sender_id: int, settings: FormSettings) -> None:
    """Raises Unprocessable naming the first field that is wrong."""
    errors = await check(conn, sender_id, settings)
    if errors:
        name, message = next(iter(errors.items()))
        raise Unprocessable(f"{name}: {message}")


def field_label(form: dict[str, Any], name: str, language: str) -> str:
    """The label of a text field in a language: the form's own, else the name humanised."""
    labels = (form.get("field_labels") or {}).get(name) or {}
    return str(labels.get(language) or labels.get("en") or name.replace("_", " ").capitalize())


def hosted_url(public_base_url: str, form_id: int) -> str:
    return f"{public_base_url.rstrip('/')}/f/{form_id}"


def embed_snippet(form: dict[str, Any], public_base_url: str, topic_labels: dict[str, str]) -> str:
    """A plain ``<form>`` POST to the hosted page, to paste into any site (no script). The
    hosted page asks the person to press the button once more, so a bot posting the snippet
    blind still meets the minimum time to submit."""
    action = html.escape(hosted_url(public_base_url, int(form["id"])), quote=True)
    lines = [f'<form method="post" action="{action}" accept-charset="utf-8">']
    lines.append(
        '  <label>Email <input type="email" name="email" required maxlength="254"></label>'
    )
    for name in form["fields"]:
        label = html.escape(field_label(form, name, "en"))
        lines.append(f'  <label>{label} <input type="text" name="{name}" maxlength="200"></label>')
    for key in form["topics"]:
        label = html.escape(topic_labels.get(key, key))
        lines.append(
            f'  <label><input type="checkbox" name="topics" value="{key}"> {label}</label>'
        )
    lines.append(
        '  <div style="position:absolute;left:-5000px" aria-hidden="true">'
        '<input type="text" name="website" tabindex="-1" autocomplete="off"></div>'
    )
    lines.append('  <button type="submit">Subscribe</button>')
    lines.append("</form>")
    return "\n".join(lines)


async def describe(conn: Conn, sender_id: int, rows: list[Row]) -> list[dict[str, Any]]:
    """Forms as the API and the admin show them: with their hosted URL, JSON URL and snippet."""
    sender = await senders.get_public_sender(conn, sender_id)
    base = str(sender["public_base_url"]) if sender else ""
    labels = {t["key"]: t["label_en"] for t in await topics.list_topics(conn, sender_id)}
    out = []
    for row in rows:
        url = hosted_url(base, int(row["id"]))
        out.append(
            {**row, "hosted_url": url, "json_url": f"{url}/json",
             "embed_html": embed_snippet(row, base, labels)}
        )  # fmt: skip
    return out
