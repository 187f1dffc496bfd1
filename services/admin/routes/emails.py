"""Emails: list with statistics, create and edit (locales), the variations editor with a live
preview (HTML in a sandboxed iframe, plain text beside it), and test sends."""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.forms import Form, read_form
from services.admin.sessions import SenderId, Tx
from services.admin.templating import render
from shared.campaigns import service as campaigns
from shared.db import Conn
from shared.emails import repository as emails
from shared.errors import AppError, NotFound
from shared.layouts import service as layouts
from shared.limits import MAX_ID, WEIGHT_MAX, WEIGHT_MIN, valid_id
from shared.rendering import MessageUrls, message_layout, render_variation, validate_templates
from shared.sends import repository as sends
from shared.statistics import repository as statistics
from shared.subscribers.validation import address_error, locale_error
from shared.transactional import service as transactional

router = APIRouter(prefix="/senders/{sender_id}/emails")
URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")
BODY_MAX = 1_000_000


def _check_id(value: int, what: str) -> int:
    if not valid_id(value):
        raise NotFound(f"no such {what}")
    return value


async def load_email(conn: Conn, sender_id: int, email_id: int) -> dict[str, Any]:
    """The email of this sender, or a 404: the one lookup of it a request makes."""
    _check_id(email_id, "email")
    return await campaigns.load_email(conn, sender_id, email_id)


def _email_values(form: Form) -> dict[str, Any]:
    name = form.line("name", required=True, max_len=200)
    locales = [x.strip() for x in form.text("locales", max_len=500).replace(";", ",").split(",")]
    locales = [x for x in locales if x]
    bad = [x for x in locales if locale_error(x)]
    if bad:
        form.errors["locales"] = "not a locale: " + ", ".join(bad) + " (use C or like en_US)"
    redirect_url = form.line("redirect_url", max_len=2000) or None
    if redirect_url and not URL_RE.match(redirect_url):
        form.errors["redirect_url"] = "must start with http:// or https://"
    layout = form.line("layout_id", max_len=20)
    layout_id = int(layout) if layout.isdigit() and valid_id(int(layout)) else None
    if layout and layout_id is None:
        form.errors["layout_id"] = "not a layout"
    return {
        "name": name,
        "locales": locales,
        "bulk": form.checkbox("bulk"),
        "track_clicks": form.checkbox("track_clicks"),
        "redirect_url": redirect_url,
        "transactional": form.checkbox("transactional"),
        "layout_id": layout_id,
    }


async def _check_layout(conn: Conn, sender_id: int, form: Form, values: dict[str, Any]) -> None:
    """The layout must be the sender's, and one with the unsubscribe link for a bulk email."""
    if "layout_id" in form.errors:
        return
    try:
        await layouts.check_choice(
            conn, sender_id, values["layout_id"], transactional=values["transactional"]
        )
    except AppError as error:
        form.errors["layout_id"] = error.detail.removeprefix("layout_id: ")


@router.get("")
async def list_emails(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    before = request.query_params.get("before", "")
    before_id = int(before) if before.isdigit() and valid_id(int(before)) else None
    rows = await emails.list_emails(tx.conn, sender_id, state=None, before_id=before_id, limit=50)
    counts = await statistics.admin_email_counts(tx.conn, sender_id, [r["id"] for r in rows])
    for row in rows:
        row["counts"] = counts.get(row["id"], {})
    return await render(
        request,
        "emails/list.html",
        {"emails": rows, "next_before": rows[-1]["id"] if len(rows) == 50 else None},
        sender_id=sender_id,
    )


@router.get("/new")
async def new_email(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    values = {"bulk": "on", "track_clicks": "on", "locales": ""}
    context = {"values": values, "errors": {},
               "layouts": await layouts.list_all(tx.conn, sender_id)}  # fmt: skip
    return await render(request, "emails/new.html", context, sender_id=sender_id)


@router.post("/new")
async def create_email(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    form = await read_form(request)
    values = _email_values(form)
    await _check_layout(tx.conn, sender_id, form, values)
    if form.ok:
        email = await emails.create_email(tx.conn, sender_id, values)
        url = f"/senders/{sender_id}/emails/{email['id']}/variations/new?notice=created"
        return RedirectResponse(url, status_code=303)
    return await render(
        request,
        "emails/new.html",
        {"values": form.values, "errors": form.errors,
         "layouts": await layouts.list_all(tx.conn, sender_id)},
        sender_id=sender_id,
        status_code=400,
    )  # fmt: skip


async def _email_page(
    request: Request,
    conn: Conn,
    email: dict[str, Any],
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    sender_id = email["sender_id"]
    variations = await emails.list_variations(conn, sender_id, [email["id"]])
    if values is None:
        values = {
            "name": email["name"],
            "locales": ", ".join(email["locales"]),
            "redirect_url": email["redirect_url"] or "",
            "bulk": "on" if email["bulk"] else "",
            "track_clicks": "on" if email["track_clicks"] else "",
            "transactional": "on" if email["transactional"] else "",
            "layout_id": str(email["layout_id"] or ""),
        }
    recent = []
    if email["transactional"]:
        recent = await transactional.recent_sends(conn, sender_id, email["id"], limit=50)
        for row in recent:
            row["data_json"] = json.dumps(row["data"], ensure_ascii=False, sort_keys=True)
    context = {
        "email": email,
        "variations": variations,
        "values": values,
        "errors": errors or {},
        "layouts": await layouts.list_all(conn, sender_id),
        "recent_sends": recent,
    }
    return await render(
        request, "emails/edit.html", context, sender_id=sender_id, status_code=status_code
    )


@router.get("/{email_id}")
async def edit_email(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    return await _email_page(request, tx.conn, await load_email(tx.conn, sender_id, email_id))


@router.post("/{email_id}")
async def save_email(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    form = await read_form(request)
    values = _email_values(form)
    await _check_layout(tx.conn, sender_id, form, values)
    if form.ok:
        await emails.update_email(tx.conn, sender_id, email_id, values)
        return RedirectResponse(f"/senders/{sender_id}/emails/{email_id}?notice=saved", 303)
    return await _email_page(
        request,
        tx.conn,
        email,
        values=form.values,
        errors=form.errors,
        status_code=400,
    )


@router.post("/{email_id}/delete")
async def delete_email(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    locked = await emails.lock_email(tx.conn, sender_id, email_id)
    try:
        async with tx.savepoint():
            deleted = locked is not None and await emails.delete_email(tx.conn, sender_id, email_id)
    except psycopg.errors.ForeignKeyViolation:  # an automation step sends it
        return await _email_page(
            request,
            tx.conn,
            email,
            errors={"form": "an automation step sends this email: change the automation first"},
            status_code=409,
        )
    if not deleted:
        return await _email_page(
            request,
            tx.conn,
            email,
            errors={"form": "only a draft that was never sent can be deleted"},
            status_code=409,
        )
    return RedirectResponse(f"/senders/{sender_id}/emails?notice=deleted", status_code=303)


# --- variations ---------------------------------------------------------------------------


def _variation_values(form: Form) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": form.line("name", max_len=200),
        "subject": form.line("subject", required=True, max_len=998),
        "plain_body": form.raw("plain_body", max_len=BODY_MAX) or None,
        "html_body": form.raw("html_body", max_len=BODY_MAX) or None,
        "weight": form.integer("weight", minimum=WEIGHT_MIN, maximum=WEIGHT_MAX) or 1,
        "state": "active" if form.checkbox("active") else "disabled",
    }
    if form.ok:
        try:
            validate_templates(values["subject"], values["plain_body"], values["html_body"])
        except AppError as error:
            field, _, message = error.detail.partition(": ")
            form.errors[field if field in values else "form"] = message or error.detail
    return values


async def _variation_page(
    request: Request,
    sender_id: int,
    email: dict[str, Any],
    variation: dict[str, Any] | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    context = {"email": email, "variation": variation, "values": values, "errors": errors}
    return await render(
        request, "emails/variation.html", context, sender_id=sender_id, status_code=status_code
    )


@router.get("/{email_id}/variations/new")
async def new_variation(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    values = {
        "weight": "1",
        "active": "on",
        "preview_properties": "{}",
        "subject": "",
        "plain_body": "",
        "html_body": "",
    }
    return await _variation_page(request, sender_id, email, None, values, {})


@router.post("/{email_id}/variations/new")
async def create_variation(
    request: Request, sender_id: SenderId, email_id: int, tx: Tx
) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    form = await read_form(request)
    values = _variation_values(form)
    if form.ok:
        await emails.create_variation(tx.conn, sender_id, email_id, values)
        return RedirectResponse(f"/senders/{sender_id}/emails/{email_id}?notice=created", 303)
    return await _variation_page(
        request, sender_id, email, None, form.values, form.errors, status_code=400
    )


async def _load_variation(
    conn: Conn, sender_id: int, email_id: int, variation_id: int
) -> dict[str, Any]:
    _check_id(variation_id, "variation")
    variation = await emails.get_variation(conn, sender_id, email_id, variation_id)
    if variation is None:
        raise NotFound("no such variation")
    return variation


@router.get("/{email_id}/variations/{variation_id}")
async def edit_variation(
    request: Request, sender_id: SenderId, email_id: int, variation_id: int, tx: Tx
) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    variation = await _load_variation(tx.conn, sender_id, email_id, variation_id)
    values = {k: variation[k] or "" for k in ("name", "subject", "plain_body", "html_body")}
    values["weight"] = str(variation["weight"])
    values["active"] = "on" if variation["state"] == "active" else ""
    values["preview_properties"] = "{}"
    return await _variation_page(request, sender_id, email, variation, values, {})


@router.post("/{email_id}/variations/{variation_id}")
async def save_variation(
    request: Request, sender_id: SenderId, email_id: int, variation_id: int, tx: Tx
) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    variation = await _load_variation(tx.conn, sender_id, email_id, variation_id)
    form = await read_form(request)
    values = _variation_values(form)
    if form.ok:
        await emails.update_variation(tx.conn, sender_id, email_id, variation_id, values)
        return RedirectResponse(f"/senders/{sender_id}/emails/{email_id}?notice=saved", 303)
    return await _variation_page(
        request, sender_id, email, variation, form.values, form.errors, status_code=400
    )


@router.post("/{email_id}/variations/{variation_id}/delete")
async def delete_variation(
    request: Request, sender_id: SenderId, email_id: int, variation_id: int, tx: Tx
) -> Response:
    await _load_variation(tx.conn, sender_id, email_id, variation_id)
    if await emails.count_variations(tx.conn, email_id) <= 1:
        return await _email_page(
            request,
            tx.conn,
            await load_email(tx.conn, sender_id, email_id),
            errors={"form": "an email keeps at least one variation"},
            status_code=409,
        )
    await emails.delete_variation(tx.conn, sender_id, email_id, variation_id)
    return RedirectResponse(f"/senders/{sender_id}/emails/{email_id}?notice=deleted", 303)


@router.post("/{email_id}/preview")
async def preview(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    """The live preview of the variation form (htmx): rendered for a sample subscriber."""
    await load_email(tx.conn, sender_id, email_id)
    form = await read_form(request)
    values = _variation_values(form)
    properties_text = form.raw("preview_properties", max_len=100_000).strip() or "{}"
    try:
        properties = json.loads(properties_text)
    except ValueError:
        properties = None
    if not isinstance(properties, dict):
        form.errors["preview_properties"] = "must be a JSON object"
        properties = {}
    rendered = None
    if form.ok:
        # The email's context, as a batch reads it: its sender's URL and its layout, so the
        # preview shows the message as it will be sent.
        ctx = await sends.batch_context(tx.conn, email_id)
        assert ctx is not None
        urls = MessageUrls.for_send(ctx["public_base_url"], "preview")
        subscriber = {"address": "preview@example.com", "locale": "C", "properties": properties}
        try:
            rendered = render_variation(
                values, subscriber, urls, track_clicks=False, layout=message_layout(ctx)
            )
        except Exception as error:  # a template error must show, never become a 500
            form.errors["form"] = f"{type(error).__name__}: {error}"
    return await render(
        request, "emails/_preview.html", {"rendered": rendered, "errors": form.errors}
    )


@router.post("/{email_id}/test")
async def test_send(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    form = await read_form(request)
    address = form.line("test_address", required=True, max_len=254)
    variation_id = form.integer("variation_id", required=True, minimum=1, maximum=MAX_ID)
    if address and "test_address" not in form.errors and address_error(address):
        form.errors["test_address"] = "not a valid email address"
    if form.ok and variation_id is not None:
        messages = await campaigns.test_send(
            tx.conn,
            sender_id=sender_id,
            email_id=email_id,
            variation_id=variation_id,
            address=address,
            properties={},
        )
        tx.enqueue(*messages)
        return RedirectResponse(f"/senders/{sender_id}/emails/{email_id}?notice=test_sent", 303)
    return await _email_page(
        request,
        tx.conn,
        email,
        errors=form.errors,
        status_code=400,
        values=None,
    )
