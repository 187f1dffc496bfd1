"""/v1/subscribers/{id}/consent and /export: a subscriber's consent history and GDPR export.
(The erase is ``DELETE /v1/subscribers/{id}`` in ``subscribers.py``.)"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.api.deps import Ctx, Id
from services.api.errors import ERROR_RESPONSES
from services.api.schemas.privacy import ConsentHistory, SubscriberExport
from shared.consent import repository as consent
from shared.errors import NotFound
from shared.privacy import export as exports
from shared.subscribers import repository as subscribers

router = APIRouter(prefix="/v1/subscribers", tags=["subscribers"], responses=ERROR_RESPONSES)


@router.get(
    "/{subscriber_id:int}/consent",
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
    "/{subscriber_id:int}/export",
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
