"""Segments: the sender's saved filters, a page at a time; add, edit, delete, and the live count
of one segment on demand."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.admin.forms import Form, read_form
from services.admin.sessions import SenderId, Tx
from services.admin.templating import render
from shared.errors import AppError, NotFound, Unprocessable
from shared.filters import parse_filter
from shared.limits import valid_id
from shared.segments import repository as segments_repo
from shared.segments import service as segments

router = APIRouter(prefix="/senders/{sender_id}/segments")
PAGE_SIZE = 50


def _filter_text(row: dict[str, Any]) -> str:
    """The expression as it was typed; a segment given as JSON (through the API) is shown as
    JSON, which the form accepts too."""
    return row.get("filter_text") or json.dumps(row["filter"], ensure_ascii=False)


@router.get("")
async def list_segments(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    """A page of segments without their counts: a count reads the sender's subscribers and, for
    engagement, their sends and events (up to a second or two at a million subscribers), so
    counting a whole page would make every visit of the list cost minutes of database time.
    Each row counts itself when asked (``/count``), and a segment's own page shows its count."""
    before = request.query_params.get("before", "")
    before_id = int(before) if before.isdigit() and valid_id(int(before)) else None
    rows = await segments_repo.list_page(tx.conn, sender_id, before_id=before_id, limit=PAGE_SIZE)
    for row in rows:
        row["filter_text"] = _filter_text(row)
    next_before = rows[-1]["id"] if len(rows) == PAGE_SIZE else None
    context = {"rows": rows, "next_before": next_before}
    return await render(request, "segments/list.html", context, sender_id=sender_id)


@router.get("/new")
async def new_segment(request: Request, sender_id: SenderId) -> Response:
    context = {"values": {"name": "", "filter": ""}, "errors": {}, "segment": None}
    return await render(request, "segments/edit.html", context, sender_id=sender_id)


async def _get(tx: Any, sender_id: int, segment_id: int) -> dict[str, Any]:
    if not valid_id(segment_id):
        raise NotFound("no such segment")
    return await segments.get(tx.conn, sender_id, segment_id)


@router.get("/{segment_id}")
async def edit_segment(request: Request, sender_id: SenderId, segment_id: int, tx: Tx) -> Response:
    row = await _get(tx, sender_id, segment_id)
    row["count"] = await segments.count(tx.conn, sender_id, segment_id)
    values = {"name": row["name"], "filter": _filter_text(row)}
    context = {"values": values, "errors": {}, "segment": row}
    return await render(request, "segments/edit.html", context, sender_id=sender_id)


@router.get("/{segment_id}/count")
async def count_segment(sender_id: SenderId, segment_id: int, tx: Tx) -> Response:
    """The live count of one segment, as the fragment the list puts in place of its button."""
    await _get(tx, sender_id, segment_id)
    count = await segments.count(tx.conn, sender_id, segment_id)
    return HTMLResponse(f'<span class="segment-count">{count:,}</span>')


def _read(form: Form) -> tuple[str, str]:
    name = form.line("name", required=True, max_len=200)
    text = form.text("filter", required=True, max_len=20_000)
    if text and "filter" not in form.errors:
        try:
            parse_filter(text.strip() if not text.strip().startswith("{") else _json(text))
        except AppError as error:
            form.errors["filter"] = error.detail.removeprefix("filter: ")
    return name, text


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise Unprocessable(f"not valid JSON: {error}") from None


async def _save(
    request: Request, sender_id: int, tx: Any, segment: dict[str, Any] | None
) -> Response:
    form = await read_form(request)
    name, text = _read(form)
    if form.ok:
        value = _json(text) if text.strip().startswith("{") else text
        try:
            async with tx.savepoint():
                if segment is None:
                    row = await segments.create(tx.conn, sender_id, name, value)
                else:
                    row = await segments.update(
                        tx.conn, sender_id, segment["id"], name=name, filter=value
                    )
        except psycopg.errors.UniqueViolation:
            form.errors["name"] = "this sender has a segment of that name"
        except AppError as error:  # a named segment not found, a loop, anonymous engagement
            form.errors["filter"] = error.detail.removeprefix("filter: ")
        else:
            url = f"/senders/{sender_id}/segments/{row['id']}?notice=saved"
            return RedirectResponse(url, status_code=303)
    context = {"values": form.values, "errors": form.errors, "segment": segment}
    return await render(
        request, "segments/edit.html", context, sender_id=sender_id, status_code=400
    )


@router.post("/new")
async def create_segment(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    return await _save(request, sender_id, tx, None)


@router.post("/{segment_id}")
async def save_segment(request: Request, sender_id: SenderId, segment_id: int, tx: Tx) -> Response:
    return await _save(request, sender_id, tx, await _get(tx, sender_id, segment_id))


@router.post("/{segment_id}/delete")
async def delete_segment(
    request: Request, sender_id: SenderId, segment_id: int, tx: Tx
) -> Response:
    await _get(tx, sender_id, segment_id)
    await segments.delete(tx.conn, sender_id, segment_id)
    return RedirectResponse(f"/senders/{sender_id}/segments?notice=deleted", status_code=303)
