"""The bulk send page: the audience per locale (live, as the filters change), max count,
schedule, A/B winner settings, a confirmation step, then pause, resume, cancel, live progress,
failed sends with their reasons and a retry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.admin.forms import Form, read_form
from services.admin.routes.emails import load_email
from services.admin.sessions import SenderId, Tx
from services.admin.templating import render
from shared.campaigns import followups
from shared.campaigns import service as campaigns
from shared.campaigns.abtest import DEFAULT_MIN_SENDS, MAX_MIN_SENDS
from shared.campaigns.models import AbSettings
from shared.db import Conn, Row, Transaction
from shared.emails import repository as emails_repo
from shared.errors import AppError, NotFound, Unprocessable
from shared.filters import Filter, parse_filter
from shared.limits import (
    AB_SHARE_MAX,
    AB_SHARE_MIN,
    AB_WAIT_MINUTES_MAX,
    AB_WAIT_MINUTES_MIN,
    MAX_COUNT_MAX,
)
from shared.statistics import repository as statistics
from shared.subscribers.validation import locale_error

router = APIRouter(prefix="/senders/{sender_id}/emails/{email_id}")
FIELDS = (
    "locales",
    "filter",
    "max_count",
    "scheduled_at",
    "ab",
    "ab_share",
    "ab_wait_minutes",
    "ab_metric",
    "ab_min_sends",
)
RESEND_FIELDS = ("followup_email_id", "subject", "variation_id", "delay_hours")


@dataclass
class SendPlan:
    """The bulk send form, checked."""

    locales: list[str] | None
    filter: Filter | None
    max_count: int | None
    scheduled_at: datetime | None
    ab: AbSettings | None


def _plan(form: Form) -> SendPlan:
    text = form.text("locales", max_len=500).replace(";", ",")
    locales = [x.strip() for x in text.split(",") if x.strip()] or None
    bad = [x for x in locales or [] if locale_error(x)]
    if bad:
        form.errors["locales"] = "not a locale: " + ", ".join(bad)
    filter_text = form.text("filter", max_len=20_000)
    parsed: Filter | None = None
    try:
        parsed = parse_filter(filter_text)
    except AppError as error:
        form.errors["filter"] = error.detail.removeprefix("filter: ")
    max_count = form.integer("max_count", minimum=1, maximum=MAX_COUNT_MAX)
    when = form.text("scheduled_at", max_len=40)
    scheduled_at = None
    if when:
        try:
            scheduled_at = datetime.fromisoformat(when).replace(tzinfo=UTC)
        except ValueError:
            form.errors["scheduled_at"] = "not a date and time"
    ab = None
    if form.checkbox("ab"):
        # the share in whole percent, within the one definition of its bounds
        share = form.integer(
            "ab_share",
            required=True,
            minimum=round(AB_SHARE_MIN * 100),
            maximum=round(AB_SHARE_MAX * 100),
        )
        wait = form.integer(
            "ab_wait_minutes",
            required=True,
            minimum=AB_WAIT_MINUTES_MIN,
            maximum=AB_WAIT_MINUTES_MAX,
        )
        metric = form.choice("ab_metric", ("click", "open"), default="click")
        min_sends = form.integer("ab_min_sends", minimum=1, maximum=MAX_MIN_SENDS)
        if share is not None and wait is not None and form.ok:
            ab = AbSettings(
                test_share=share / 100,
                wait=timedelta(minutes=wait),
                metric=metric,  # type: ignore[arg-type]
                min_sends=min_sends,
            )
    return SendPlan(locales, parsed, max_count, scheduled_at, ab)


async def _counts(
    conn: Conn, email: dict[str, Any], plan: SendPlan, form: Form | None = None
) -> dict[str, int]:
    """The audience per locale; a filter that names a segment the sender does not have, or
    engagement for an anonymous sender, becomes the form's filter error."""
    try:
        async with conn.transaction():  # a savepoint: the request's transaction goes on
            return await campaigns.count_audience(
                conn, email, locales=plan.locales, contains=None, filter=plan.filter
            )
    except (NotFound, Unprocessable) as error:
        if form is None:
            raise
        form.errors["filter"] = error.detail.removeprefix("filter: ")
        return {}


async def _progress(conn: Conn, sender_id: int, email_id: int) -> dict[str, Any]:
    progress = await campaigns.progress(conn, sender_id=sender_id, email_id=email_id)
    progress["failures"] = await statistics.list_sends(
        conn, sender_id, email_id=email_id, state="failed", limit=50
    )
    total = sum(progress[k] for k in ("queued", "held", "sending", "sent", "failed", "cancelled"))
    progress["total"] = total
    progress["done"] = progress["sent"] + progress["failed"] + progress["cancelled"]
    return progress


@router.get("/send")
async def send_page(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    values = {
        "locales": ", ".join(email["locales"]),
        "ab_share": "20",
        "ab_wait_minutes": "60",
        "ab_metric": "click",
        "ab_min_sends": str(DEFAULT_MIN_SENDS),
    }
    plan = SendPlan(email["locales"] or None, None, None, None, None)
    counts = await _counts(tx.conn, email, plan)
    progress = await _progress(tx.conn, sender_id, email_id)
    context = {
        "email": email,
        "values": values,
        "errors": {},
        "counts": counts,
        "progress": progress,
        "variations": await _variations(tx.conn, sender_id, email_id),
    }
    return await render(request, "emails/send.html", context, sender_id=sender_id)


@router.post("/audience")
async def audience(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    """The live audience count (htmx, on every change of the form)."""
    email = await load_email(tx.conn, sender_id, email_id)
    form = await read_form(request)
    plan = _plan(form)
    counts = await _counts(tx.conn, email, plan, form) if form.ok else {}
    return await render(
        request,
        "emails/_audience.html",
        {"counts": counts, "errors": form.errors, "max_count": plan.max_count},
    )


@router.post("/send/confirm")
async def confirm(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    form = await read_form(request)
    plan = _plan(form)
    counts = await _counts(tx.conn, email, plan, form) if form.ok else {}
    total = sum(counts.values())
    planned = min(total, plan.max_count) if plan.max_count else total
    if form.ok and planned == 0:
        form.errors["form"] = "nobody matches: there is no one to send to"
    context = {
        "email": email,
        "values": form.values,
        "errors": form.errors,
        "counts": counts,
        "planned": planned,
        "plan": plan,
    }
    if not form.ok:
        context["progress"] = await _progress(tx.conn, sender_id, email_id)
        return await render(
            request, "emails/send.html", context, sender_id=sender_id, status_code=400
        )
    return await render(request, "emails/confirm.html", context, sender_id=sender_id)


@router.post("/send/queue")
async def queue(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    form = await read_form(request)
    plan = _plan(form)
    if form.ok:
        try:
            async with tx.savepoint():
                _campaign, messages = await campaigns.queue_bulk_send(
                    tx.conn,
                    sender_id=sender_id,
                    email_id=email_id,
                    locales=plan.locales,
                    contains=None,
                    filter=plan.filter,
                    max_count=plan.max_count,
                    scheduled_at=plan.scheduled_at,
                    ab=plan.ab,
                )
                tx.enqueue(*messages)
        except AppError as error:
            form.errors["form"] = error.detail
        else:
            url = f"/senders/{sender_id}/emails/{email_id}/send?notice=queued"
            return RedirectResponse(url, status_code=303)
    counts = await _counts(tx.conn, email, plan, form) if "filter" not in form.errors else {}
    context = {
        "email": email,
        "values": form.values,
        "errors": form.errors,
        "counts": counts,
        "progress": await _progress(tx.conn, sender_id, email_id),
    }
    return await render(request, "emails/send.html", context, sender_id=sender_id, status_code=409)


@router.post("/resend")
async def resend(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    """Queue a follow-up to this email's non-openers after a delay: another email, or a copy of
    this one with one of its variations and/or a new subject."""
    email = await load_email(tx.conn, sender_id, email_id)
    form = await read_form(request)
    followup = followups.Followup(
        email_id=form.integer("followup_email_id", minimum=1, maximum=2**63 - 1),
        subject=form.line("subject", max_len=followups.MAX_SUBJECT) or None,
        variation_id=form.integer("variation_id", minimum=1, maximum=2**63 - 1),
    )
    hours = form.integer("delay_hours", required=True, minimum=0, maximum=90 * 24)
    if form.ok and hours is not None:
        try:
            async with tx.savepoint():
                campaign, messages = await followups.resend_to_non_openers(
                    tx.conn, sender_id=sender_id, email_id=email_id, followup=followup,
                    delay=timedelta(hours=hours),
                )  # fmt: skip
                tx.enqueue(*messages)
        except AppError as error:
            field, _, detail = error.detail.partition(": ")
            if field in RESEND_FIELDS and detail:  # shown beside the field it is about
                form.errors[field] = detail
            else:
                form.errors["form"] = error.detail
        else:
            url = f"/senders/{sender_id}/emails/{campaign['email_id']}/send?notice=queued"
            return RedirectResponse(url, status_code=303)
    context = {
        "email": email,
        "values": form.values,
        "errors": form.errors,
        "counts": {},
        "progress": await _progress(tx.conn, sender_id, email_id),
        "variations": await _variations(tx.conn, sender_id, email_id),
    }
    return await render(request, "emails/send.html", context, sender_id=sender_id, status_code=400)


async def _variations(conn: Conn, sender_id: int, email_id: int) -> list[Row]:
    """This email's variations, for the follow-up copy's choice."""
    return await emails_repo.list_variations(conn, sender_id, [email_id])


@router.get("/progress")
async def progress(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    data = await _progress(tx.conn, sender_id, email_id)
    return await render(request, "emails/_progress.html", {"progress": data, "email": email})


async def _control(
    request: Request, tx: Transaction, sender_id: int, email_id: int, action: str
) -> Response:
    email = await load_email(tx.conn, sender_id, email_id)
    notice = {"pause": "paused", "resume": "resumed", "cancel": "cancelled", "retry": "retried"}
    try:
        async with tx.savepoint():
            messages: list[Any] = []
            if action == "pause":
                await campaigns.pause(tx.conn, sender_id=sender_id, email_id=email_id)
            elif action == "resume":
                messages = await campaigns.resume(tx.conn, sender_id=sender_id, email_id=email_id)
            elif action == "cancel":
                await campaigns.cancel(tx.conn, sender_id=sender_id, email_id=email_id)
            else:
                _n, messages = await campaigns.retry_failed(
                    tx.conn, sender_id=sender_id, email_id=email_id
                )
            tx.enqueue(*messages)
    except AppError as error:
        context = {
            "email": email,
            "values": {},
            "errors": {"form": error.detail},
            "counts": {},
            "progress": await _progress(tx.conn, sender_id, email_id),
        }
        return await render(
            request, "emails/send.html", context, sender_id=sender_id, status_code=409
        )
    url = f"/senders/{sender_id}/emails/{email_id}/send?notice={notice[action]}"
    return RedirectResponse(url, status_code=303)


@router.post("/pause")
async def pause(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    return await _control(request, tx, sender_id, email_id, "pause")


@router.post("/resume")
async def resume(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    return await _control(request, tx, sender_id, email_id, "resume")


@router.post("/cancel")
async def cancel(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    return await _control(request, tx, sender_id, email_id, "cancel")


@router.post("/retry")
async def retry(request: Request, sender_id: SenderId, email_id: int, tx: Tx) -> Response:
    return await _control(request, tx, sender_id, email_id, "retry")
