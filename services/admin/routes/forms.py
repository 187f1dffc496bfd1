"""Subscription forms: list, create, edit (with the snippet to copy and a link to the hosted
page), delete; the sender's topics; the confirmation mail and the default welcome email."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.forms import Form, read_form
from services.admin.sessions import SenderId, Tx
from services.admin.templating import render
from shared.db import Conn
from shared.emails import repository as emails
from shared.errors import NotFound, Unprocessable
from shared.forms import repository as forms
from shared.forms import service
from shared.limits import valid_id
from shared.optin import mail
from shared.optin import repository as optin
from shared.topics import repository as topics

router = APIRouter(prefix="/senders/{sender_id}/forms")
EMAIL_CHOICES = 200


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


async def _choices(conn: Conn, sender_id: int) -> dict[str, Any]:
    return {
        "topics": await topics.list_topics(conn, sender_id),
        "emails": await emails.list_emails(
            conn, sender_id, state=None, before_id=None, limit=EMAIL_CHOICES
        ),
    }


def _values(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"locales": ["en", "tr"], "double_opt_in": "on", "topics": [], "fields": ""}
    return {
        "name": row["name"],
        "locales": row["locales"],
        "fields": ", ".join(row["fields"]),
        "field_labels": "\n".join(
            f"{name}.{language} = {label}"
            for name, labels in row["field_labels"].items()
            for language, label in labels.items()
        ),
        "topics": row["topics"],
        "thank_you_text": row["thank_you_text"] or "",
        "redirect_url": row["redirect_url"] or "",
        "double_opt_in": "on" if row["double_opt_in"] else "",
        "allowed_origins": "\n".join(row["allowed_origins"]),
        "welcome_email_id": str(row["welcome_email_id"] or ""),
    }


def _labels(form: Form) -> dict[str, dict[str, str]]:
    """Field labels typed one per line as ``first_name.tr = Ad``."""
    labels: dict[str, dict[str, str]] = {}
    for line in form.raw("field_labels", max_len=20_000).splitlines():
        if not line.strip():
            continue
        key, sep, label = line.partition("=")
        name, dot, language = key.strip().partition(".")
        if not sep or not dot or not label.strip():
            form.errors["field_labels"] = f"{line.strip()!r}: write field.language = label"
            continue
        labels.setdefault(name, {})[language] = label.strip()
    return labels


async def _read(conn: Conn, sender_id: int, form: Form) -> service.FormSettings:
    """The settings from the page, with each field's error kept for the page (the rules are
    the API's: ``shared.forms.service``)."""
    settings = service.FormSettings(
        name=form.line("name", required=True, max_len=service.MAX_NAME),
        locales=form.many("locales"),
        fields=_split(form.text("fields", max_len=2000)),
        field_labels=_labels(form),
        topics=form.many("topics"),
        thank_you_text=form.raw("thank_you_text", max_len=service.MAX_THANK_YOU).strip() or None,
        redirect_url=form.line("redirect_url", max_len=service.MAX_URL) or None,
        double_opt_in=form.checkbox("double_opt_in"),
        allowed_origins=_split(form.raw("allowed_origins", max_len=10_000)),
        welcome_email_id=form.integer("welcome_email_id", minimum=1, maximum=2**63 - 1),
    )
    for name, message in (await service.check(conn, sender_id, settings)).items():
        form.errors.setdefault(name, message)
    return settings


def _shown(form: Form, settings: service.FormSettings) -> dict[str, Any]:
    """What the page shows again after a refused save (the checkbox lists as lists)."""
    return {**form.values, "locales": settings.locales, "topics": settings.topics}


async def _get(conn: Conn, sender_id: int, form_id: int) -> dict[str, Any]:
    row = await forms.get_form(conn, sender_id, form_id) if valid_id(form_id) else None
    if row is None:
        raise NotFound("no such form")
    return (await service.describe(conn, sender_id, [row]))[0]


@router.get("")
async def list_forms(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    rows = await service.describe(tx.conn, sender_id, await forms.list_forms(tx.conn, sender_id))
    context = {
        "forms": rows,
        "topics": await topics.list_topics(tx.conn, sender_id),
        "values": {},
        "errors": {},
    }
    return await render(request, "forms/list.html", context, sender_id=sender_id)


@router.get("/new")
async def new_form(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    context = {"form": None, "values": _values(None), "errors": {}}
    context.update(await _choices(tx.conn, sender_id))
    return await render(request, "forms/edit.html", context, sender_id=sender_id)


@router.post("/new")
async def create_form(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    form = await read_form(request)
    settings = await _read(tx.conn, sender_id, form)
    if form.ok:
        row = await forms.create_form(tx.conn, sender_id, settings.as_params())
        return RedirectResponse(
            f"/senders/{sender_id}/forms/{row['id']}?notice=created", status_code=303
        )
    context = {"form": None, "values": _shown(form, settings), "errors": form.errors}
    context.update(await _choices(tx.conn, sender_id))
    return await render(request, "forms/edit.html", context, sender_id=sender_id, status_code=400)


@router.get("/optin")
async def optin_settings(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    context: dict[str, Any] = {"errors": {}, "language": None}
    context["templates"] = {
        language: mail.template_for(
            await optin.get_template(tx.conn, sender_id, language), language
        )
        for language in mail.LANGUAGES
    }
    context["welcome_email_id"] = await optin.sender_welcome(tx.conn, sender_id)
    context.update(await _choices(tx.conn, sender_id))
    return await render(request, "forms/optin.html", context, sender_id=sender_id)


@router.post("/optin/welcome")
async def save_welcome(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    form = await read_form(request)
    email_id = form.integer("welcome_email_id", minimum=1, maximum=2**63 - 1)
    if form.ok and (email_id is None or await forms.email_exists(tx.conn, sender_id, email_id)):
        await optin.set_sender_welcome(tx.conn, sender_id, email_id)
        return RedirectResponse(f"/senders/{sender_id}/forms/optin?notice=saved", 303)
    raise Unprocessable("welcome_email_id: not one of this sender's emails")


@router.post("/optin/templates/{language}")
async def save_template(request: Request, sender_id: SenderId, language: str, tx: Tx) -> Response:
    if language not in mail.LANGUAGES:
        raise NotFound("no such language")
    form = await read_form(request)
    if form.checkbox("reset"):
        await optin.delete_template(tx.conn, sender_id, language)
        return RedirectResponse(f"/senders/{sender_id}/forms/optin?notice=saved", 303)
    subject = form.line("subject", required=True, max_len=998)
    plain = form.raw("plain_body", max_len=100_000)
    html = form.raw("html_body", max_len=500_000).strip() or None
    if form.ok:
        try:
            mail.validate_template(subject, plain, html)
        except Unprocessable as error:
            form.errors["form"] = error.detail
    if form.ok:
        await optin.put_template(
            tx.conn, sender_id, language, subject=subject, plain_body=plain, html_body=html
        )
        return RedirectResponse(f"/senders/{sender_id}/forms/optin?notice=saved", 303)
    templates = {
        other: mail.template_for(await optin.get_template(tx.conn, sender_id, other), other)
        for other in mail.LANGUAGES
    }
    templates[language] = {"language": language, "subject": subject, "plain_body": plain,
                           "html_body": html, "custom": True}  # fmt: skip
    context: dict[str, Any] = {"errors": form.errors, "language": language, "templates": templates}
    context["welcome_email_id"] = await optin.sender_welcome(tx.conn, sender_id)
    context.update(await _choices(tx.conn, sender_id))
    return await render(request, "forms/optin.html", context, sender_id=sender_id, status_code=400)


@router.post("/topics")
async def save_topic(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    form = await read_form(request)
    key = form.line("key", required=True, max_len=64)
    label_en = form.line("label_en", required=True, max_len=200)
    label_tr = form.line("label_tr", max_len=200)
    position = form.integer("position", minimum=0, maximum=10_000) or 0
    if key and not topics.TOPIC_KEY_RE.match(key):
        form.errors["key"] = "lower-case letters, digits and _, starting with a letter"
    declared = await topics.list_topics(tx.conn, sender_id)
    if len(declared) >= topics.MAX_TOPICS and all(t["key"] != key for t in declared):
        form.errors["key"] = f"a sender has at most {topics.MAX_TOPICS} topics"
    if form.ok:
        await topics.put_topic(
            tx.conn, sender_id, key, label_en=label_en, label_tr=label_tr, position=position
        )
        return RedirectResponse(f"/senders/{sender_id}/forms?notice=saved", 303)
    rows = await service.describe(tx.conn, sender_id, await forms.list_forms(tx.conn, sender_id))
    context = {"forms": rows, "topics": declared, "values": form.values, "errors": form.errors}
    return await render(request, "forms/list.html", context, sender_id=sender_id, status_code=400)


@router.post("/topics/{key}/delete")
async def delete_topic(request: Request, sender_id: SenderId, key: str, tx: Tx) -> Response:
    if not topics.TOPIC_KEY_RE.match(key) or not await topics.delete_topic(tx.conn, sender_id, key):
        raise NotFound("no such topic")
    return RedirectResponse(f"/senders/{sender_id}/forms?notice=deleted", 303)


@router.get("/{form_id}")
async def edit_form(request: Request, sender_id: SenderId, form_id: int, tx: Tx) -> Response:
    row = await _get(tx.conn, sender_id, form_id)
    context = {"form": row, "values": _values(row), "errors": {}}
    context.update(await _choices(tx.conn, sender_id))
    return await render(request, "forms/edit.html", context, sender_id=sender_id)


@router.post("/{form_id}")
async def save_form(request: Request, sender_id: SenderId, form_id: int, tx: Tx) -> Response:
    row = await _get(tx.conn, sender_id, form_id)
    form = await read_form(request)
    settings = await _read(tx.conn, sender_id, form)
    if form.ok:
        await forms.update_form(tx.conn, sender_id, form_id, settings.as_params())
        return RedirectResponse(f"/senders/{sender_id}/forms/{form_id}?notice=saved", 303)
    context = {"form": row, "values": _shown(form, settings), "errors": form.errors}
    context.update(await _choices(tx.conn, sender_id))
    return await render(request, "forms/edit.html", context, sender_id=sender_id, status_code=400)


@router.post("/{form_id}/delete")
async def delete_form(request: Request, sender_id: SenderId, form_id: int, tx: Tx) -> Response:
    await _get(tx.conn, sender_id, form_id)
    await forms.delete_form(tx.conn, sender_id, form_id)
    return RedirectResponse(f"/senders/{sender_id}/forms?notice=deleted", 303)
