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
from shared.emails import repository as emails_repo
from shared.errors import AppError, NotFound
from shared.limits import valid_id
from shared.segments import repository as segments_repo

router = APIRouter(prefix="/senders/{sender_id}/automations")
UNITS = {"minute": 60, "hour": 3600, "day": 86400}
EXPECTED = 'expected "send EMAIL_ID", "wait N days|hours|minutes" or "if segment SEGMENT_ID"'
TRIGGER_LABELS = {
    "subscriber_created": "a subscriber is created",
    "subscriber_active": "a subscription is confirmed (becomes active)",
    "segment_entered": "a subscriber enters a segment",
    "date_property": "a date property comes round (yearly)",
}
CHOICES = 500  # emails and segments offered as a reference on the form
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


def _wait_text(seconds: int) -> str:
    unit = next(u for u in ("day", "hour", "minute") if seconds % UNITS[u] == 0)
    n = seconds // UNITS[unit]
    return f"wait {n} {unit}{'' if n == 1 else 's'}"


def steps_text(rows: list[dict[str, Any]]) -> str:
    """The steps as the lines the form takes (``parse_steps`` reads them back)."""
    lines = []
    for st in rows:
        if st["kind"] == "send":
            lines.append(f"send {st['email_id']}")
        elif st["kind"] == "condition":
            lines.append(f"if segment {st['segment_id']}")
        else:
            lines.append(_wait_text(int(st["wait_seconds"])))
    return "\n".join(lines)


def step_label(st: dict[str, Any], emails: dict[int, str], segments: dict[int, str]) -> str:
    """A step as an operator reads it: the email's and the segment's names, not only ids."""
    if st["kind"] == "send":
        name = emails.get(st["email_id"])
        return f"send email {st['email_id']}" + (f" ({name})" if name else "")
    if st["kind"] == "condition":
        return f"if in segment {segments.get(st['segment_id'], st['segment_id'])}"
    return _wait_text(int(st["wait_seconds"]))


async def _names(tx: Any, sender_id: int) -> tuple[dict[int, str], dict[int, str]]:
    """The sender's emails and segments by id (newest first), to name steps and offer choices."""
    emails = await emails_repo.list_emails(
        tx.conn, sender_id, state=None, before_id=None, limit=CHOICES
    )
    segments = await segments_repo.list_page(tx.conn, sender_id, before_id=None, limit=CHOICES)
    return {e["id"]: e["name"] for e in emails}, {s["id"]: s["name"] for s in segments}


async def _get(tx: Any, sender_id: int, automation_id: int) -> dict[str, Any]:
    if not valid_id(automation_id):
        raise NotFound("no such automation")
    return await automations.get(tx.conn, sender_id, automation_id)


@router.get("")
async def list_automations(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    rows = await automations_repo.list_page(tx.conn, sender_id, before_id=None, limit=200)
    for row in rows:
        row["totals"] = await automations_repo.totals(tx.conn, row["id"])
    context = {"rows": rows, "trigger_labels": TRIGGER_LABELS}
    return await render(request, "automations/list.html", context, sender_id=sender_id)


async def _form_context(tx: Any, sender_id: int, values: dict[str, str], errors: dict[str, str],
                        automation: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    emails, segments = await _names(tx, sender_id)
    return {
        "values": values, "errors": errors, "automation": automation, "emails": emails,
        "segments": segments, "triggers": TRIGGERS, "trigger_labels": TRIGGER_LABELS,
    }  # fmt: skip


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


async def _show(request: Request, sender_id: int, tx: Any, row: dict[str, Any],
                values: dict[str, str], errors: dict[str, str]) -> Response:  # fmt: skip
    """The sequence page: per-step statistics, who is where, and the edit form."""
    stats = await automations.statistics(tx.conn, sender_id, row["id"])
    who = await automations_repo.progress_page(
        tx.conn, row["id"], state=None, after_id=0, limit=100
    )
    emails, segments = await _names(tx, sender_id)
    labels = [step_label(st, emails, segments) for st in row["steps"]]
    for p in who:
        at = p["position"]
        p["step"] = f"{at + 1}. {labels[at]}" if at < len(labels) else "past the last step"
    context = {"automation": row, "stats": stats, "who": who, "labels": labels,
               "trigger_label": TRIGGER_LABELS[row["trigger"]],
               "trigger_segment": segments.get(row["segment_id"]), "emails": emails,
               "segments": segments, "values": values, "errors": errors}  # fmt: skip
    status = 400 if errors else 200
    return await render(
        request, "automations/show.html", context, sender_id=sender_id, status_code=status
    )


@router.get("/{automation_id}")
async def show_automation(
    request: Request, sender_id: SenderId, automation_id: int, tx: Tx
) -> Response:
    row = await _get(tx, sender_id, automation_id)
    values = {"name": row["name"], "steps": steps_text(row["steps"])}
    return await _show(request, sender_id, tx, row, values, {})


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
    return await _show(request, sender_id, tx, row, form.values, form.errors)


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
    notice = "paused" if action == "pause" else "resumed"
    return RedirectResponse(
        f"/senders/{sender_id}/automations/{automation_id}?notice={notice}", 303
    )
