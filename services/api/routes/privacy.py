"""/v1/subscribers/{id}/consent and /export: a subscriber's consent history and GDPR export
(the erase is ``DELETE /v1/subscribers/{id}`` in ``subscribers.py``); /v1/sender/retention: how
long the sender keeps events, raw inbound mail and webhook logs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.api.deps import Ctx, Id, get_settings
from services.api.errors import ERROR_RESPONSES
from services.api.schemas.privacy import (
    ConsentHistory,
    ErasedLookup,
    ErasedLookupIn,
    Retention,
    SubscriberExport,
)
from shared.consent import repository as consent
from shared.errors import NotFound
from shared.privacy import erasure, retention
from shared.privacy import export as exports
from shared.privacy import repository as privacy
from shared.subscribers import repository as subscribers

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.get(
    "/subscribers/{subscriber_id:int}/consent",
    tags=["subscribers"],
    response_model=ConsentHistory,
    summary="Consent history of a subscriber",
)
async def consent_history(subscriber_id: Id, ctx: Ctx) -> Any:
    """Every subscribe, confirm, unsubscribe, resubscribe, preference change and erase request,
    oldest first, with its source, time, IP, user agent and the hash of the wording shown."""
    if await subscribers.get(ctx.conn, ctx.sender_id, subscriber_id) is None:
        raise NotFound("no such subscriber")
    return {"items": await consent.history(ctx.conn, ctx.sender_id, subscriber_id)}


@router.get(
    "/subscribers/{subscriber_id:int}/export",
    tags=["subscribers"],
    response_model=SubscriberExport,
    summary="Export everything about a subscriber (GDPR)",
)
async def export_subscriber(subscriber_id: Id, ctx: Ctx) -> Any:
    """One JSON document: profile, consent history, sends, events, bounce and complaint reports,
    and webhook deliveries naming the subscriber. Served as an attachment."""
    document = await exports.export(ctx.conn, ctx.sender_id, subscriber_id)
    if document is None:
        raise NotFound("no such subscriber")
    body = SubscriberExport.model_validate(document).model_dump(mode="json")
    return JSONResponse(
        jsonable_encoder(body),
        headers={
            "Content-Disposition": f'attachment; filename="subscriber-{subscriber_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/sender/retention", response_model=Retention, tags=["sender"], summary="Retention limits"
)
async def get_retention(ctx: Ctx) -> Any:
    return await retention.get_settings(ctx.conn, ctx.sender_id)


@router.put("/sender/retention", response_model=Retention, tags=["sender"], summary="Set retention")
async def set_retention(body: Retention, ctx: Ctx) -> Any:
    """Replaces the three limits (an omitted one becomes null: kept for ever)."""
    return await retention.set_settings(
        ctx.conn,
        ctx.sender_id,
        events_days=body.events_days,
        inbound_days=body.inbound_days,
        webhook_days=body.webhook_days,
    )


@router.post(
    "/subscribers/erased/lookup",
    response_model=ErasedLookup,
    tags=["subscribers"],
    summary="Was this address erased? (consent proof)",
)
async def erased_lookup(body: ErasedLookupIn, ctx: Ctx) -> Any:
    """Hashes the address with the deployment's erasure key and answers when the sender erased
    it, with the consent records kept as proof (what was agreed, when, through what). A POST so
    the address stays out of URLs and access logs; it changes nothing. 404: never erased."""
    hashed = erasure.address_hash(
        erasure.erasure_key(get_settings(ctx.request)), ctx.sender_id, body.address
    )
    erased_at = await privacy.erased_at(ctx.conn, ctx.sender_id, hashed)
    if erased_at is None:
        raise NotFound("this sender has not erased that address")
    return {
        "erased_at": erased_at,
        "consent": await consent.by_address_hash(ctx.conn, ctx.sender_id, hashed),
    }
