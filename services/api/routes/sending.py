"""/v1/emails/{id}/...: bulk send, send to one subscriber, test send, pause, resume, cancel,
retry and progress. Messages are queued after the request commits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from services.api.deps import Ctx, Id
from services.api.errors import ERROR_RESPONSES
from services.api.idempotency import Idem
from services.api.schemas.common import Address, Locale, Properties, Strict
from services.api.schemas.emails import (
    BulkSendIn,
    BulkSendOut,
    Progress,
    RetryOut,
    SendQueued,
    SendToSubscriberIn,
)
from shared.campaigns import followups
from shared.campaigns import service as campaigns
from shared.campaigns.followups import MAX_SUBJECT
from shared.campaigns.models import AbSettings
from shared.filters import parse_filter
from shared.limits import MAX_COUNT_MAX, MAX_ID

router = APIRouter(prefix="/v1/emails", tags=["sending"], responses=ERROR_RESPONSES)


class TestSendIn(Strict):
    """Send one variation to any address with made-up properties (no send row is kept)."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"variation_id": 1, "address": "me@example.com"}]},
    }
    variation_id: int = Field(ge=1, le=MAX_ID)
    address: Address
    properties: Properties | None = None
    data: dict[str, Any] | None = Field(
        None, description="A transactional email's per-send data, made up for the test."
    )


class TestSendOut(Strict):
    queued: int = Field(description="Messages queued (1).")


@router.post(
    "/{email_id:int}/send",
    status_code=202,
    response_model=BulkSendOut,
    summary="Send in bulk to the matching subscribers",
)
async def bulk_send(email_id: Id, body: BulkSendIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    ab = None
    if body.ab is not None:
        ab = AbSettings(
            test_share=body.ab.share,
            wait=timedelta(minutes=body.ab.wait_minutes),
            metric=body.ab.metric,
            min_sends=body.ab.min_sends,
        )
    campaign, messages = await campaigns.queue_bulk_send(
        ctx.conn,
        sender_id=ctx.sender_id,
        email_id=email_id,
        # an empty list in the request means the email's own locales (empty: every locale)
        locales=body.locales,
        contains=body.contains,
        filter=parse_filter(body.filter),
        segment_id=body.segment_id,
        max_count=body.max_count,
        scheduled_at=body.scheduled_at,
        ab=ab,
    )
    ctx.enqueue(messages)
    out = {
        "job_id": campaign["id"],
        "recipient_count": campaign["planned_count"] or 0,
        "state": campaign["state"],
    }
    return await idem.respond(202, out)


class ResendIn(Strict):
    """Queue a follow-up to those who received this email and did not open it by then: another
    email (``followup_email_id``), or a copy of this one with one of its variations and/or a
    new subject."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"followup_email_id": 2, "delay_hours": 48},
                {"subject": "In case you missed it", "variation_id": 7, "delay_hours": 48},
            ]
        },
    }
    followup_email_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="An email of the sender to send (a draft)."
    )
    subject: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_SUBJECT,
        pattern=r"^[^\x00\r\n]+$",
        description="The copy's subject (a template like any subject); default: the variation's.",
    )
    variation_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="The variation of this email the copy sends."
    )
    delay_hours: int = Field(ge=0, le=90 * 24, description="When to look and send.")
    locales: list[Locale] = Field(default_factory=list, max_length=100)
    max_count: int | None = Field(None, ge=1, le=MAX_COUNT_MAX)


class ResendOut(BulkSendOut):
    email_id: int = Field(description="The follow-up email: the copy when one was made.")


@router.post(
    "/{email_id:int}/resend-to-non-openers",
    status_code=202,
    response_model=ResendOut,
    summary="Follow up with those who did not open",
    description="A bulk send of the follow-up, scheduled after the delay, to subscribers who "
    "received this email and had not opened it by then. Machine opens (privacy proxies, "
    "scanners) do not count as opens. The follow-up is another email, or a copy of this one "
    "made now (linked by followup_of) with the chosen variation and/or the new subject.",
)
async def resend_to_non_openers(email_id: Id, body: ResendIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    followup = followups.Followup(
        email_id=body.followup_email_id, subject=body.subject, variation_id=body.variation_id
    )
    campaign, messages = await followups.resend_to_non_openers(
        ctx.conn,
        sender_id=ctx.sender_id,
        email_id=email_id,
        followup=followup,
        delay=timedelta(hours=body.delay_hours),
        locales=body.locales or None,
        max_count=body.max_count,
    )
    ctx.enqueue(messages)
    out = {
        "job_id": campaign["id"],
        "recipient_count": campaign["planned_count"] or 0,
        "state": campaign["state"],
        "email_id": campaign["email_id"],
    }
    return await idem.respond(202, out)


@router.post(
    "/{email_id:int}/send-to-subscriber",
    status_code=202,
    response_model=SendQueued,
    summary="Send to one subscriber (transactional)",
    responses={410: {"description": "The subscriber unsubscribed, bounced or complained."}},
)
async def send_to_subscriber(email_id: Id, body: SendToSubscriberIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    send, messages = await campaigns.send_to_subscriber(
        ctx.conn,
        sender_id=ctx.sender_id,
        email_id=email_id,
        subscriber_id=body.subscriber_id,
        address=body.address,
    )
    ctx.enqueue(messages)
    return await idem.respond(202, {"send_id": send["id"], "state": send["state"]})


@router.post(
    "/{email_id:int}/test-send",
    status_code=202,
    response_model=TestSendOut,
    summary="Send a test of a variation to any address",
)
async def test_send(email_id: Id, body: TestSendIn, ctx: Ctx) -> Any:
    messages = await campaigns.test_send(
        ctx.conn,
        sender_id=ctx.sender_id,
        email_id=email_id,
        variation_id=body.variation_id,
        address=body.address,
        properties=body.properties,
        data=body.data,
    )
    ctx.enqueue(messages)
    return {"queued": len(messages)}


@router.post("/{email_id:int}/pause", response_model=Progress, summary="Pause a sending email")
async def pause(email_id: Id, ctx: Ctx) -> Any:
    await campaigns.pause(ctx.conn, sender_id=ctx.sender_id, email_id=email_id)
    return await campaigns.progress(ctx.conn, sender_id=ctx.sender_id, email_id=email_id)


@router.post("/{email_id:int}/resume", response_model=Progress, summary="Resume a paused email")
async def resume(email_id: Id, ctx: Ctx) -> Any:
    ctx.enqueue(await campaigns.resume(ctx.conn, sender_id=ctx.sender_id, email_id=email_id))
    return await campaigns.progress(ctx.conn, sender_id=ctx.sender_id, email_id=email_id)


@router.post("/{email_id:int}/cancel", response_model=Progress, summary="Cancel an email")
async def cancel(email_id: Id, ctx: Ctx) -> Any:
    await campaigns.cancel(ctx.conn, sender_id=ctx.sender_id, email_id=email_id)
    return await campaigns.progress(ctx.conn, sender_id=ctx.sender_id, email_id=email_id)


@router.post("/{email_id:int}/retry-failed", response_model=RetryOut, summary="Retry failed sends")
async def retry_failed(email_id: Id, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    count, messages = await campaigns.retry_failed(
        ctx.conn, sender_id=ctx.sender_id, email_id=email_id
    )
    ctx.enqueue(messages)
    return await idem.respond(200, {"retried": count})


@router.get("/{email_id:int}/progress", response_model=Progress, summary="Sending progress")
async def progress(email_id: Id, ctx: Ctx) -> Any:
    return await campaigns.progress(ctx.conn, sender_id=ctx.sender_id, email_id=email_id)
