"""Subscribers: search and filter with keyset pages, add and edit, erase, CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import psycopg
from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from services.admin.forms import Form, read_form
from services.admin.sessions import SenderId, Tx, pool_of, settings_of
from services.admin.templating import render
from shared.consent import service as consent
from shared.db import Conn
from shared.errors import NotFound, Unprocessable
from shared.events import service as events
from shared.filters import parse_filter
from shared.limits import valid_id
from shared.privacy import erasure
from shared.privacy import export as exports
from shared.segments import repository as segments_repo
from shared.subscribers import repository as subscribers
from shared.subscribers.listing import SubscriberQuery, list_page
from shared.subscribers.validation import STATES, address_error, locale_error

router = APIRouter(prefix="/senders/{sender_id}/subscribers")
PAGE_SIZE = 50
EXPORT_PAGE = 5000


def _query(
    request: Request, sender_id: int
) -> tuple[SubscriberQuery, dict[str, str], dict[str, str]]:
    """The list query from the URL, the values to show back, and inline errors."""
    params = request.query_params
    values = {
        k: params.get(k, "").strip()[:2000] for k in ("q", "locale", "state", "filter", "segment")
    }
    errors: dict[str, str] = {}
    q = SubscriberQuery(sender_id=sender_id, limit=PAGE_SIZE)
    if values["q"]:
        q.address_prefix = values["q"]
    if values["locale"]:
        if locale_error(values["locale"]):
            errors["locale"] = "C or like en_US"
        else:
            q.locales = [values["locale"]]
    if values["state"]:
        if values["state"] in (*STATES, "pending"):
            q.states = [values["state"]]
        else:
            errors["state"] = "unknown state"
    if values["filter"]:
        try:
            parsed = parse_filter(values["filter"])
        except Unprocessable as error:
            errors["filter"] = error.detail
        else:
            q.filter = parsed
    if values["segment"]:
        if values["segment"].isdigit() and valid_id(int(values["segment"])):
            q.segment_id = int(values["segment"])
        else:
            errors["segment"] = "unknown segment"
    after = params.get("after", "")
    if after.isdigit() and valid_id(int(after)):
        q.after = (int(after), int(after))
    return q, values, errors


@router.get("")
async def list_subscribers(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    q, values, errors = _query(request, sender_id)
    rows: list[Any] = []
    more = False
    if not errors:
        try:
            async with tx.savepoint():
                rows, more = await list_page(tx.conn, q)
        except (NotFound, Unprocessable) as error:  # a segment not found, anonymous engagement
            errors["filter"] = error.detail.removeprefix("filter: ")
    segment_choices = await segments_repo.list_page(tx.conn, sender_id, before_id=None, limit=500)
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "after"])
    context = {
        "rows": rows,
        "more": more,
        "segments": segment_choices,
        "values": values,
        "errors": errors,
        "next_after": rows[-1]["id"] if rows and more else None,
        "query": request.query_params,
        "querystring": query,
    }
    name = (
        "subscribers/_rows.html" if request.headers.get("HX-Request") else "subscribers/list.html"
    )
    return await render(
        request, name, context, sender_id=sender_id, status_code=400 if errors else 200
    )


@router.get(".csv")
async def export_csv(request: Request, sender_id: SenderId) -> Response:
    """Every matching subscriber, streamed page by page (keyset on id), never all in memory.
    The pages are read while the response streams, after the request's unit of work ended, so
    each takes a pooled connection of its own (none is held while a slow client downloads)."""
    q, _values, errors = _query(request, sender_id)
    if errors:
        raise Unprocessable("; ".join(f"{k}: {v}" for k, v in errors.items()))
    q.limit = EXPORT_PAGE
    q.after = None
    pool = pool_of(request)

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["address", "locale", "state", "properties", "created_at"])
        while True:
            async with pool.connection() as conn:
                page, more = await list_page(conn, q)
            for r in page:
                writer.writerow(
                    [
                        _cell(r["address"]),
                        r["locale"],
                        r["state"],
                        json.dumps(r["properties"], ensure_ascii=False),
                        r["created_at"].isoformat(),
                    ]
                )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if not more or not page:
                break
            q.after = (page[-1]["id"], page[-1]["id"])

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="subscribers-{sender_id}.csv"'},
    )


def _cell(value: str) -> str:
    """A spreadsheet would run a cell starting with = + - @ as a formula: quote it."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _properties(form: Form) -> dict[str, Any]:
    text = form.raw("properties", max_len=100_000).strip() or "{}"
    form.values["properties"] = text
    try:
        value = json.loads(text)
    except ValueError as error:
        form.errors["properties"] = f"not valid JSON: {error}"
        return {}
    if not isinstance(value, dict):
        form.errors["properties"] = 'must be a JSON object, like {"name": "Ada"}'
        return {}
    return value


@router.get("/new")
async def new_subscriber(request: Request, sender_id: SenderId) -> Response:
    values = {"locale": "C", "properties": "{}"}
    return await render(
        request,
        "subscribers/edit.html",
        {"values": values, "errors": {}, "subscriber": None},
        sender_id=sender_id,
    )


@router.post("/new")
async def create_subscriber(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    form = await read_form(request)
    address = form.line("address", required=True, max_len=254).lower()
    locale = form.line("locale", max_len=10) or "C"
    if address and "address" not in form.errors and address_error(address):
        form.errors["address"] = "not a valid email address"
    if locale_error(locale):
        form.errors["locale"] = "C or like en_US"
    properties = _properties(form)
    if form.ok:
        try:
            async with tx.savepoint():
                row = await subscribers.create(
                    tx.conn, sender_id, address=address, locale=locale, properties=properties
                )
                await consent.record(
                    tx.conn,
                    sender_id=sender_id,
                    subscriber_id=row["id"],
                    action="subscribe",
                    source="admin",
                    source_ref=str(request.state.admin.id),
                )
        except psycopg.errors.UniqueViolation:
            form.errors["address"] = "this sender already has this subscriber"
        except psycopg.errors.IntegrityError:
            form.errors["form"] = "the database refused these values"
        else:
            url = f"/senders/{sender_id}/subscribers/{row['id']}?notice=created"
            return RedirectResponse(url, status_code=303)
    return await render(
        request,
        "subscribers/edit.html",
        {"values": form.values, "errors": form.errors, "subscriber": None},
        sender_id=sender_id,
        status_code=400,
    )


async def _get(conn: Conn, sender_id: int, subscriber_id: int) -> dict[str, Any]:
    if not valid_id(subscriber_id):
        raise NotFound("no such subscriber")
    row = await subscribers.get(conn, sender_id, subscriber_id)
    if row is None:
        raise NotFound("no such subscriber")
    return row


@router.get("/{subscriber_id}")
async def edit_subscriber(
    request: Request, sender_id: SenderId, subscriber_id: int, tx: Tx
) -> Response:
    row = await _get(tx.conn, sender_id, subscriber_id)
    values = {
        "locale": row["locale"],
        "state": row["state"],
        "properties": json.dumps(row["properties"], indent=2, ensure_ascii=False),
    }
    activity = await exports.activity(tx.conn, sender_id, subscriber_id)
    return await render(
        request,
        "subscribers/edit.html",
        {"values": values, "errors": {}, "subscriber": row, **activity},
        sender_id=sender_id,
    )


@router.get("/{subscriber_id}/export.json")
async def export_subscriber(
    request: Request, sender_id: SenderId, subscriber_id: int, tx: Tx
) -> Response:
    """The GDPR export (the API's document), as a download."""
    await _get(tx.conn, sender_id, subscriber_id)
    document = await exports.export(tx.conn, sender_id, subscriber_id)
    # the API's format (ISO times), indented for a person to read
    body = json.dumps(jsonable_encoder(document), ensure_ascii=False, indent=2)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="subscriber-{subscriber_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/{subscriber_id}")
async def save_subscriber(
    request: Request, sender_id: SenderId, subscriber_id: int, tx: Tx
) -> Response:
    row = await _get(tx.conn, sender_id, subscriber_id)
    form = await read_form(request)
    locale = form.line("locale", required=True, max_len=10)
    # a pending subscriber stays pending unless the admin picks a state (no silent activation)
    state = form.choice("state", (*STATES, "pending") if row["state"] == "pending" else STATES)
    if locale and locale_error(locale):
        form.errors["locale"] = "C or like en_US"
    properties = _properties(form)
    if form.ok:
        changes = {"locale": locale, "state": state, "properties": properties}
        _, messages = await events.update_subscriber(
            tx.conn,
            sender_id,
            subscriber_id,
            changes,
            source="admin",
            source_ref=str(request.state.admin.id),
        )
        tx.enqueue(*messages)
        url = f"/senders/{sender_id}/subscribers/{subscriber_id}?notice=saved"
        return RedirectResponse(url, status_code=303)
    return await render(
        request,
        "subscribers/edit.html",
        {"values": form.values, "errors": form.errors, "subscriber": row},
        sender_id=sender_id,
        status_code=400,
    )


@router.post("/{subscriber_id}/erase")
async def erase_subscriber(
    request: Request, sender_id: SenderId, subscriber_id: int, tx: Tx
) -> Response:
    await _get(tx.conn, sender_id, subscriber_id)
    await erasure.erase(
        tx.conn,
        sender_id,
        subscriber_id,
        key=erasure.erasure_key(settings_of(request)),
        source="admin",
        source_ref=str(request.state.admin.id),
    )
    return RedirectResponse(f"/senders/{sender_id}/subscribers?notice=deleted", status_code=303)
