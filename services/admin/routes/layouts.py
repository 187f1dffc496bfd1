"""Layouts: the sender's frames around email bodies (list, create, edit, delete)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.forms import Form, read_form
from services.admin.sessions import SenderId, Tx
from services.admin.templating import render
from shared.errors import AppError, NotFound
from shared.layouts import service as layouts
from shared.limits import valid_id

router = APIRouter(prefix="/senders/{sender_id}/layouts")


def _values(form: Form) -> dict[str, Any]:
    return {
        "name": form.line("name", required=True, max_len=200),
        "html_body": form.raw("html_body", max_len=200_000) or None,
        "plain_body": form.raw("plain_body", max_len=100_000) or None,
        "transactional": form.checkbox("transactional"),
    }


@router.get("")
async def list_layouts(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    rows = await layouts.list_all(tx.conn, sender_id)
    return await render(request, "layouts/list.html", {"layouts": rows}, sender_id=sender_id)


@router.get("/new")
async def new_layout(request: Request, sender_id: SenderId) -> Response:
    values = {"html_body": layouts.DEFAULT_HTML, "plain_body": layouts.DEFAULT_PLAIN}
    context = {"layout": None, "values": values, "errors": {}}
    return await render(request, "layouts/edit.html", context, sender_id=sender_id)


@router.post("/new")
async def create_layout(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    form = await read_form(request)
    values = _values(form)
    if form.ok:
        try:
            async with tx.savepoint():
                row = await layouts.create(tx.conn, sender_id, values)
            url = f"/senders/{sender_id}/layouts/{row['id']}?notice=created"
            return RedirectResponse(url, status_code=303)
        except AppError as error:
            form.errors["form"] = error.detail
    context = {"layout": None, "values": form.values, "errors": form.errors}
    return await render(request, "layouts/edit.html", context, sender_id=sender_id, status_code=400)


async def _load(tx: Any, sender_id: int, layout_id: int) -> Any:
    if not valid_id(layout_id):
        raise NotFound("no such layout")
    return await layouts.get(tx.conn, sender_id, layout_id)


@router.get("/{layout_id}")
async def edit_layout(request: Request, sender_id: SenderId, layout_id: int, tx: Tx) -> Response:
    layout = await _load(tx, sender_id, layout_id)
    values = {
        "name": layout["name"],
        "html_body": layout["html_body"],
        "plain_body": layout["plain_body"],
        "transactional": "on" if layout["transactional"] else "",
    }
    context = {"layout": layout, "values": values, "errors": {}}
    return await render(request, "layouts/edit.html", context, sender_id=sender_id)


@router.post("/{layout_id}")
async def save_layout(request: Request, sender_id: SenderId, layout_id: int, tx: Tx) -> Response:
    layout = await _load(tx, sender_id, layout_id)
    form = await read_form(request)
    values = _values(form)
    if form.ok:
        try:
            async with tx.savepoint():
                await layouts.update(tx.conn, sender_id, layout_id, values)
            url = f"/senders/{sender_id}/layouts/{layout_id}?notice=saved"
            return RedirectResponse(url, status_code=303)
        except AppError as error:
            form.errors["form"] = error.detail
    context = {"layout": layout, "values": form.values, "errors": form.errors}
    return await render(request, "layouts/edit.html", context, sender_id=sender_id, status_code=400)


@router.post("/{layout_id}/delete")
async def delete_layout(request: Request, sender_id: SenderId, layout_id: int, tx: Tx) -> Response:
    await read_form(request)  # the CSRF check
    await _load(tx, sender_id, layout_id)
    await layouts.delete(tx.conn, sender_id, layout_id)
    return RedirectResponse(f"/senders/{sender_id}/layouts?notice=deleted", status_code=303)
