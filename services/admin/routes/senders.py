"""Senders: list, create, settings (rates, bounce policy, links), API keys, DKIM, delete."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.forms import Form, read_form
from services.admin.sessions import CurrentAdmin, OwnerAdmin, SenderId, Tx
from services.admin.templating import render
from shared.audit import service as audit
from shared.db import Conn
from shared.errors import Conflict, NotFound, Unprocessable
from shared.esp import service as esp
from shared.limits import (
    API_KEY_RATE_DEFAULT,
    API_KEY_RATE_MAX,
    API_KEY_RATE_MIN,
    SOFT_BOUNCE_LIMIT_MAX,
    SOFT_BOUNCE_LIMIT_MIN,
    valid_id,
)
from shared.senders import dkim_keys
from shared.senders import repository as senders
from shared.senders.dkim import ALGORITHMS
from shared.senders.relays import check_relay, relay_names
from shared.subscribers.validation import address_error

router = APIRouter(prefix="/senders")

URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")
DOMAIN_RE = re.compile(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


def _check_url(form: Form, name: str, *, required: bool) -> str | None:
    value = form.line(name, required=required, max_len=500)
    if value and name not in form.errors and not URL_RE.match(value):
        form.errors[name] = "must start with http:// or https:// and name a host"
    return value or None


def _check_address(form: Form, name: str, *, required: bool) -> str | None:
    value = form.line(name, required=required, max_len=254).lower()
    if value and name not in form.errors and address_error(value):
        form.errors[name] = "not a valid email address"
    return value or None


def _check_domain(form: Form, name: str) -> str | None:
    value = form.line(name, max_len=253).lower()
    if value and name not in form.errors and not DOMAIN_RE.match(value):
        form.errors[name] = "not a domain name"
    return value or None


def _check_relay(request: Request, form: Form) -> str | None:
    """The relay the sender is pinned to: a configured name, or empty for any in turn."""
    value = form.line("relay", max_len=200) or None
    try:
        return check_relay(value, request.app.state.settings.smtp_relays)
    except Unprocessable as error:
        form.errors["relay"] = str(error).removeprefix("relay: ")
        return None


@router.get("")
async def list_senders(request: Request, admin: CurrentAdmin, tx: Tx) -> Response:
    rows = await senders.admin_list_senders(tx.conn, admin.id, admin.is_owner)
    return await render(request, "senders/list.html", {"senders": rows})


@router.get("/new")
async def new_sender(request: Request, admin: OwnerAdmin) -> Response:
    values = {"public_base_url": request.app.state.settings.public_base_url}
    return await render(request, "senders/new.html", {"values": values, "errors": {}})


@router.post("/new")
async def create_sender(request: Request, admin: OwnerAdmin, tx: Tx) -> Response:
    form = await read_form(request)
    address = _check_address(form, "address", required=True)
    name = form.line("name", required=True, max_len=200)
    public_base_url = _check_url(form, "public_base_url", required=True)
    reply_to = _check_address(form, "reply_to", required=False)
    return_path = _check_domain(form, "return_path_domain")
    if form.ok:
        try:
            async with tx.savepoint():
                row = await senders.create_sender(
                    tx.conn,
                    address=address or "",
                    name=name,
                    public_base_url=public_base_url or "",
                    return_path_domain=return_path,
                    reply_to=reply_to,
                )
        except psycopg.errors.UniqueViolation:
            form.errors["address"] = "a sender with this address exists"
        except psycopg.errors.IntegrityError:
            form.errors["form"] = "the database refused these values; check each field"
        else:
            return RedirectResponse(f"/senders/{row['id']}?notice=created", status_code=303)
    return await render(
        request, "senders/new.html", {"values": form.values, "errors": form.errors}, status_code=400
    )


async def _settings_page(
    request: Request,
    conn: Conn,
    sender_id: int,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    new_key: str | None = None,
    status_code: int = 200,
) -> Response:
    sender = await senders.get_sender(conn, sender_id)
    if sender is None:
        raise NotFound("no such sender")
    keys = await senders.list_api_keys(conn, sender_id)
    signing_keys = await dkim_keys.list_keys(conn, sender_id, sender["address"])
    esp_endpoints = await esp.list_endpoints(conn, sender_id)
    if values is None:
        values = {
            k: "" if sender[k] is None else str(sender[k])
            for k in (
                "name",
                "reply_to",
                "public_base_url",
                "return_path_domain",
                "rate_per_second",
                "rate_per_hour",
                "soft_bounce_limit",
                "webhook_url",
                "postal_address",
            )
        }
        values["transactional_rate_limited"] = "on" if sender["transactional_rate_limited"] else ""
        values["soft_bounce_days"] = str(sender["soft_bounce_window"].days)
        values["anonymous_events"] = "on" if sender["anonymous_events"] else ""
        values["relay"] = sender["relay"] or ""
        for rate in ("guard_bounce_rate", "guard_complaint_rate"):
            value = sender[rate]
            values[rate.replace("_rate", "_percent")] = (
                "" if value is None else f"{float(value) * 100:g}"
            )
        values["guard_min_sent"] = str(sender["guard_min_sent"])
    context = {
        "sender": sender,
        "keys": keys,
        "values": values,
        "errors": errors or {},
        "new_key": new_key,
        "dkim_keys": signing_keys,
        "esp_endpoints": esp_endpoints,
        "relays": relay_names(request.app.state.settings.smtp_relays),
        "api_key_rate_default": API_KEY_RATE_DEFAULT,
    }
    return await render(
        request, "senders/edit.html", context, status_code=status_code, sender_id=sender_id
    )


def _guard(form: Form) -> dict[str, Any]:
    """The campaign guard's fields, when the form has them: percents (empty turns that check
    off) as fractions, and the minimum sent before a verdict."""
    if "guard_min_sent" not in form.data:
        return {}
    values: dict[str, Any] = {}
    for name in ("guard_bounce_percent", "guard_complaint_percent"):
        text = form.line(name, max_len=20).replace(",", ".")
        rate = None
        if text:
            try:
                rate = float(text) / 100
            except ValueError:
                rate = -1.0
            if not 0 < rate <= 1:
                form.errors[name] = "a percent above 0 and at most 100, or empty (off)"
                rate = None
        values[name.replace("_percent", "_rate")] = rate
    values["guard_min_sent"] = form.integer(
        "guard_min_sent", required=True, minimum=1, maximum=10_000_000
    )
    return values


@router.get("/{sender_id}")
async def edit_sender(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    return await _settings_page(request, tx.conn, sender_id)


@router.post("/{sender_id}")
async def save_sender(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    form = await read_form(request)
    values = {
        "name": form.line("name", required=True, max_len=200),
        "reply_to": _check_address(form, "reply_to", required=False),
        "public_base_url": _check_url(form, "public_base_url", required=True),
        "return_path_domain": _check_domain(form, "return_path_domain"),
        "rate_per_second": form.integer("rate_per_second", minimum=1, maximum=100_000),
        "rate_per_hour": form.integer("rate_per_hour", minimum=1, maximum=100_000_000),
        "soft_bounce_limit": form.integer(
            "soft_bounce_limit",
            required=True,
            minimum=SOFT_BOUNCE_LIMIT_MIN,
            maximum=SOFT_BOUNCE_LIMIT_MAX,
        ),
        "soft_bounce_days": form.integer(
            "soft_bounce_days", required=True, minimum=1, maximum=3650
        ),
        "anonymous_events": form.checkbox("anonymous_events"),
        "webhook_url": _check_url(form, "webhook_url", required=False),
        "relay": _check_relay(request, form),
        "postal_address": form.line("postal_address", max_len=500) or None,
        "transactional_rate_limited": form.checkbox("transactional_rate_limited"),
        **_guard(form),
    }
    if not values["return_path_domain"]:
        form.errors["return_path_domain"] = "required (VERP bounces come back to this domain)"
    if form.ok:
        before = await senders.get_public_sender(tx.conn, sender_id)
        try:
            async with tx.savepoint():
                await senders.admin_update_sender_settings(tx.conn, sender_id, values)
        except psycopg.errors.IntegrityError:
            form.errors["form"] = "the database refused these values; check each field"
        else:
            after = await senders.get_public_sender(tx.conn, sender_id)
            audit.set_change(request, before, after)
            return RedirectResponse(f"/senders/{sender_id}?notice=saved", status_code=303)
    return await _settings_page(
        request, tx.conn, sender_id, values=form.values, errors=form.errors, status_code=400
    )


@router.post("/{sender_id}/keys")
async def create_key(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    form = await read_form(request)
    name = form.line("key_name", max_len=100)
    rate = form.integer("key_rate", minimum=API_KEY_RATE_MIN, maximum=API_KEY_RATE_MAX)
    can_manage_keys = form.checkbox("key_can_manage")
    if not form.ok:
        return await _settings_page(
            request, tx.conn, sender_id, errors=form.errors, status_code=400
        )
    key, _row = await senders.create_api_key(
        tx.conn,
        sender_id,
        name,
        rate_per_minute=rate or API_KEY_RATE_DEFAULT,
        can_manage_keys=can_manage_keys,
    )
    # Shown in this one answer only; the database keeps its hash.
    return await _settings_page(request, tx.conn, sender_id, new_key=key)


@router.post("/{sender_id}/keys/{key_id}/revoke")
async def revoke_key(request: Request, sender_id: SenderId, key_id: int, tx: Tx) -> Response:
    if not valid_id(key_id) or await senders.revoke_api_key(tx.conn, sender_id, key_id) is None:
        raise NotFound("no such live key")
    return RedirectResponse(f"/senders/{sender_id}?notice=saved", status_code=303)


@router.post("/{sender_id}/dkim")
async def create_dkim_key(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    """A new key under a new selector, 'next' until activated (publish its record first)."""
    form = await read_form(request)
    selector = form.line("selector", required=True, max_len=63)
    algorithm = form.choice("algorithm", ALGORITHMS, default="rsa-sha256")
    if not form.ok:
        return await _settings_page(
            request, tx.conn, sender_id, errors=form.errors, status_code=400
        )
    sender = await senders.get_sender(tx.conn, sender_id)
    assert sender is not None
    try:
        async with tx.savepoint():
            await dkim_keys.create_key(
                tx.conn, sender_id, sender["address"], selector=selector, algorithm=algorithm
            )
    except (Unprocessable, Conflict) as error:
        form.errors["selector"] = str(error).removeprefix("selector: ")
        return await _settings_page(
            request, tx.conn, sender_id, errors=form.errors, status_code=400
        )
    return RedirectResponse(f"/senders/{sender_id}?notice=saved#dkim", status_code=303)


async def _change_dkim_key(tx: Tx, sender_id: int, dkim_key_id: int, action: str) -> Response:
    if not valid_id(dkim_key_id):
        raise NotFound("no such DKIM key")
    sender = await senders.get_sender(tx.conn, sender_id)
    assert sender is not None
    if action == "activate":
        await dkim_keys.activate_key(tx.conn, sender_id, dkim_key_id, sender["address"])
    elif action == "retire":
        await dkim_keys.retire_key(tx.conn, sender_id, dkim_key_id, sender["address"])
    else:
        await dkim_keys.delete_key(tx.conn, sender_id, dkim_key_id)
    return RedirectResponse(f"/senders/{sender_id}?notice=saved#dkim", status_code=303)


@router.post("/{sender_id}/dkim/{dkim_key_id}/activate")
async def activate_dkim_key(
    request: Request, sender_id: SenderId, dkim_key_id: int, tx: Tx
) -> Response:
    """Sign with the key from now on; the active key of its algorithm is retired."""
    return await _change_dkim_key(tx, sender_id, dkim_key_id, "activate")


@router.post("/{sender_id}/dkim/{dkim_key_id}/retire")
async def retire_dkim_key(
    request: Request, sender_id: SenderId, dkim_key_id: int, tx: Tx
) -> Response:
    return await _change_dkim_key(tx, sender_id, dkim_key_id, "retire")


@router.post("/{sender_id}/dkim/{dkim_key_id}/delete")
async def delete_dkim_key(
    request: Request, sender_id: SenderId, dkim_key_id: int, tx: Tx
) -> Response:
    """Only a key that does not sign (409 for an active one)."""
    return await _change_dkim_key(tx, sender_id, dkim_key_id, "delete")


@router.get("/{sender_id}/delete")
async def confirm_delete(
    request: Request, sender_id: SenderId, admin: OwnerAdmin, tx: Tx
) -> Response:
    sender = await senders.get_sender(tx.conn, sender_id)
    return await render(
        request, "senders/delete.html", {"sender": sender, "errors": {}}, sender_id=sender_id
    )


@router.post("/{sender_id}/delete")
async def delete_sender(
    request: Request, sender_id: SenderId, admin: OwnerAdmin, tx: Tx
) -> Response:
    form = await read_form(request)
    typed = form.line("confirm", max_len=254).lower()
    sender = await senders.get_sender(tx.conn, sender_id)
    assert sender is not None
    if typed == sender["address"]:
        await senders.admin_delete_sender(tx.conn, sender_id)
        return RedirectResponse("/senders?notice=deleted", status_code=303)
    errors = {"confirm": "type the sender's address exactly to confirm"}
    return await render(
        request,
        "senders/delete.html",
        {"sender": sender, "errors": errors},
        status_code=400,
        sender_id=sender_id,
    )
