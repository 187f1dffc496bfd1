"""Automations: build a sequence (trigger and steps, one per line), see per-step statistics and
who is where, pause, resume, edit and delete."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.forms import Form, read_form
from services.admin.sessions import SenderId, Tx
from services.admin.templating import render
from shared.automations import repository as automations_repo
from shared.automations import service as automations
from shared.automations.service import TRIGGERS, Step
from shared.errors import AppError, NotFound
from shared.limits import valid_id
from shared.segments import repository as segments_repo

router = APIRouter(prefix="/senders/{sender_id}/automations")
UNITS = {"minute": 60, "hour": 3600, "day": 86400}
EXPECTED = 'expected "send EMAIL_ID", "wait N days|hours|minutes" or "if segment SEGMENT_ID"'
_STEP = re.compile(
    r"^(?:send\s+(?P<email>\d{1,18})"
    r"|wait\s+(?P<n>\d{1,6})\s+(?P<unit>minute|hour|day)s?"
    r"|if\s+segment\s+(?P<segment>\d{1,18}))$",
    re.IGNORECASE,
)


def parse_steps(text: str) -> tuple[list[Step], str | None]:
    """Steps from lines such as ``send 12``, ``wait 3 days``, ``if segment 4``."""
    steps: list[Step] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        m = _STEP.match(line)
        if m is None:
            return [], f"line {number}: {EXPECTED}"
        if m["email"]:
            steps.append(Step("send", email_id=int(m["email"])))
        elif m["segment"]:
            steps.append(Step("condition", segment_id=int(m["segment"])))
        else:
            steps.append(Step("wait", wait_seconds=int(m["n"]) * UNITS[m["unit"].lower()]))
    return steps, None


def steps_text(rows: list[dict[str, Any]]) -> str:
    lines = []
    for st in rows:
        if st["kind"] == "send":
            lines.append(f"send {st['email_id']}")
        elif st["kind"] == "condition":
            lines.append(f"if segment {st['segment_id']}")
        else:
            seconds = int(st["wait_seconds"])
            unit = next(u for u in ("day", "hour", "minute") if seconds % UNITS[u] == 0)
            lines.append(f"wait {seconds // UNITS[unit]} {unit}s")
    return "\n".join(lines)


async def _get(tx: Any, sender_id: int, automation_id: int) -> dict[str, Any]:
    if not valid_id(automation_id):
        raise NotFound("no such automation")
    return await automations.get(tx.conn, sender_id, automation_id)


@router.get("")
async def list_automations(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    rows = await automations_repo.list_page(tx.conn, sender_id, before_id=None, limit=200)
    for row in rows:
        row["totals"] = await automations_repo.totals(tx.conn, row["id"])
    return await render(request, "automations/list.html", {"rows": rows}, sender_id=sender_id)


async def _form_context(tx: Any, sender_id: int, values: dict[str, str], errors: dict[str, str],
                        automation: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    segments = await segments_repo.list_page(tx.conn, sender_id, before_id=None, limit=500)
    return {"values": values, "errors": errors, "automation": automation,
            "segments": segments, "triggers": TRIGGERS}  # fmt: skip


@router.get("/new")
async def new_automation(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    values = {"trigger": "subscriber_active", "steps": "send 1\nwait 3 days\n", "active": "on"}
    context = await _form_context(tx, sender_id, values, {}, None)
    return await render(request, "automations/edit.html", context, sender_id=sender_id)


@router.post("/new")
async def create_automation(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    form = await read_form(request)
    name = form.line("name", required=True, max_len=200)
    trigger = form.choice("trigger", TRIGGERS, default="subscriber_active")
    segment = form.integer("segment_id", minimum=1, maximum=2**63 - 1)
    prop = form.line("date_property", max_len=200) or None
    active = form.checkbox("active")
    steps = _steps(form)
    if form.ok:
        try:
            async with tx.savepoint():
                row = await automations.create(
                    tx.conn, sender_id, name=name, trigger=trigger,
                    segment_id=segment if trigger == "segment_entered" else None,
                    date_property=prop if trigger == "date_property" else None,
                    steps=steps, active=active,
                )  # fmt: skip
        except psycopg.errors.UniqueViolation:
            form.errors["name"] = "this sender has an automation of that name"
        except AppError as error:
            form.errors["form"] = error.detail
        else:
            url = f"/senders/{sender_id}/automations/{row['id']}?notice=created"
            return RedirectResponse(url, status_code=303)
    context = await _form_context(tx, sender_id, form.values, form.errors, None)
    return await render(
        request, "automations/edit.html", context, sender_id=sender_id, status_code=400
    )


def _steps(form: Form) -> list[Step]:
    text = form.text("steps", max_len=5000)
    steps, error = parse_steps(text)
    if error:
        form.errors["steps"] = error
    return steps


@router.get("/{automation_id}")
async def show_automation(
    request: Request, sender_id: SenderId, automation_id: int, tx: Tx
) -> Response:
    row = await _get(tx, sender_id, automation_id)
    stats = await automations.statistics(tx.conn, sender_id, automation_id)
    who = await automations_repo.progress_page(
        tx.conn, automation_id, state=None, after_id=0, limit=100
    )
    values = {"name": row["name"], "steps": steps_text(row["steps"])}
    context = {"automation": row, "stats": stats, "who": who, "values": values, "errors": {}}
    return await render(request, "automations/show.html", context, sender_id=sender_id)


@router.post("/{automation_id}")
async def save_automation(
    request: Request, sender_id: SenderId, automation_id: int, tx: Tx
) -> Response:
    row = await _get(tx, sender_id, automation_id)
    form = await read_form(request)
    name = form.line("name", required=True, max_len=200)
    steps = _steps(form)
    if form.ok:
        try:
            async with tx.savepoint():
                await automations.update(tx.conn, sender_id, automation_id, name=name, steps=steps)
        except psycopg.errors.UniqueViolation:
            form.errors["name"] = "this sender has an automation of that name"
        except AppError as error:
            form.errors["form"] = error.detail
        else:
            url = f"/senders/{sender_id}/automations/{automation_id}?notice=saved"
            return RedirectResponse(url, status_code=303)
    stats = await automations.statistics(tx.conn, sender_id, automation_id)
    context = {"automation": row, "stats": stats, "who": [], "values": form.values,
               "errors": form.errors}  # fmt: skip
    return await render(
        request, "automations/show.html", context, sender_id=sender_id, status_code=400
    )


@router.post("/{automation_id}/{action}")
async def act(
    request: Request, sender_id: SenderId, automation_id: int, action: str, tx: Tx
) -> Response:
    await _get(tx, sender_id, automation_id)
    if action == "delete":
        await automations.delete(tx.conn, sender_id, automation_id)
        return RedirectResponse(f"/senders/{sender_id}/automations?notice=deleted", 303)
    if action not in ("pause", "resume"):
        raise NotFound("no such action")
    state = "paused" if action == "pause" else "active"
    await automations.update(tx.conn, sender_id, automation_id, state=state)
    return RedirectResponse(f"/senders/{sender_id}/automations/{automation_id}", 303)
