"""/v1/sender and /v1/webhooks: the key's sender, its webhook settings and delivery log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from services.api.deps import Context, Ctx, Id, get_settings
from services.api.errors import ERROR_RESPONSES, ErrorBody
from services.api.pagination import Cursor, Limit, before_id, id_page
from services.api.schemas.common import Page
from services.api.schemas.reports import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyInfo,
    ApiKeyList,
    Sender,
    SenderPatch,
    WebhookDelivery,
    WebhookSecret,
)
from shared.audit import service as audit
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.limits import API_KEY_RATE_DEFAULT
from shared.senders import repository as senders
from shared.senders.relays import check_relay
from shared.webhooks import repository as webhooks
from shared.webhooks.guard import RefusedTarget, allow_private_targets, check_url_syntax
from shared.webhooks.service import deliver_message

router = APIRouter(prefix="/v1", tags=["sender"], responses=ERROR_RESPONSES)


@router.get("/sender", response_model=Sender, summary="The key's sender")
async def get_sender(ctx: Ctx) -> Any:
    return await senders.get_public_sender(ctx.conn, ctx.sender_id)


@router.patch("/sender", response_model=Sender, summary="Update the sender")
async def update_sender(body: SenderPatch, ctx: Ctx) -> Any:
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    if changes.get("webhook_events") is None and "webhook_events" in changes:
        changes["webhook_events"] = []
    if changes.get("webhook_url") is not None:
        try:  # the worker checks the resolved address again before each POST
            check_url_syntax(
                str(changes["webhook_url"]),
                allow_private=allow_private_targets(get_settings(ctx.request)),
            )
        except RefusedTarget as error:
            raise Unprocessable(f"webhook_url: {error}") from None
    if "relay" in changes:
        check_relay(changes["relay"], get_settings(ctx.request).smtp_relays)
    before = await senders.get_public_sender(ctx.conn, ctx.sender_id)
    await senders.update_sender(ctx.conn, ctx.sender_id, changes)
    after = await senders.get_public_sender(ctx.conn, ctx.sender_id)
    audit.set_change(ctx.request, before, after)
    return after


@router.get("/sender/keys", response_model=ApiKeyList, summary="The sender's API keys")
async def list_keys(ctx: Ctx) -> Any:
    """Every key of the sender, revoked ones included (never the key or its hash)."""
    return {"items": await senders.list_api_keys(ctx.conn, ctx.sender_id)}


def _require_key_management(ctx: Context) -> None:
    """Creating and revoking keys is a right of its own (``api_keys.can_manage_keys``)."""
    if not ctx.key.can_manage_keys:
        raise Forbidden(
            "this key may not manage keys: an administrator grants that right (in the admin, "
            "or tart create-api-key --can-manage-keys)"
        )


@router.post(
    "/sender/keys",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create an API key",
    description="Only a key that may manage keys (`can_manage_keys`, granted in the admin, by "
    "`tart create-api-key --can-manage-keys`, or by another such key) creates one; any other "
    "key gets a 403. A key cannot grant more than it has: the new key's `rate_per_minute` is at "
    "most the calling key's own (403 otherwise). The key itself is in this answer only. Not "
    "idempotent: a retry creates a second key (revoke the one you did not store).",
    responses={403: {"model": ErrorBody, "description": "This key may not grant that."}},
)
async def create_key(body: ApiKeyIn, ctx: Ctx) -> Any:
    caller = ctx.key
    _require_key_management(ctx)
    rate = body.rate_per_minute
    if rate is None:
        rate = min(API_KEY_RATE_DEFAULT, caller.rate_per_minute)
    elif rate > caller.rate_per_minute:
        raise Forbidden(
            f"rate_per_minute: at most {caller.rate_per_minute}, the calling key's own limit"
        )
    key, row = await senders.create_api_key(
        ctx.conn,
        ctx.sender_id,
        body.name,
        rate_per_minute=rate,
        can_manage_keys=body.can_manage_keys,
    )
    return {**row, "key": key}


@router.get("/sender/keys/{key_id:int}", response_model=ApiKeyInfo, summary="One API key")
async def get_key(key_id: Id, ctx: Ctx) -> Any:
    row = await senders.get_api_key(ctx.conn, ctx.sender_id, key_id)
    if row is None:
        raise NotFound("no such key")
    return row


@router.delete(
    "/sender/keys/{key_id:int}",
    response_model=ApiKeyInfo,
    summary="Revoke an API key",
    description="The key stops working at once (its next request is a 401), in every API "
    "process. Revoking a revoked key returns it unchanged. Only a key that may manage keys "
    "(`can_manage_keys`) revokes one; any other key gets a 403, so a leaked plain key cannot "
    "lock its sender out. A key cannot revoke itself (409): rotate by creating the new key, "
    "then revoking the old one with it, so a sender is never left without a working key by "
    "mistake. An administrator can revoke any key in the admin.",
    responses={403: {"model": ErrorBody, "description": "This key may not manage keys."}},
)
async def revoke_key(key_id: Id, ctx: Ctx) -> Any:
    _require_key_management(ctx)
    if key_id == ctx.key_id:
        raise Conflict("a key cannot revoke itself: revoke it with another key of this sender")
    await senders.revoke_api_key(ctx.conn, ctx.sender_id, key_id)
    row = await senders.get_api_key(ctx.conn, ctx.sender_id, key_id)
    if row is None:
        raise NotFound("no such key")
    return row


@router.post(
    "/sender/webhook-secret",
    response_model=WebhookSecret,
    summary="Rotate the webhook signing secret",
)
async def rotate_webhook_secret(ctx: Ctx) -> Any:
    return {"secret": await senders.rotate_webhook_secret(ctx.conn, ctx.sender_id)}


@router.get(
    "/webhooks/deliveries",
    response_model=Page[WebhookDelivery],
    tags=["webhooks"],
    summary="Webhook delivery log",
)
async def list_deliveries(
    ctx: Ctx,
    limit: Limit = 100,
    cursor: Cursor = None,
    state: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
) -> dict[str, Any]:
    rows = await webhooks.list_deliveries(
        ctx.conn, ctx.sender_id, state=state, before_id=before_id(cursor), limit=limit + 1
    )
    return id_page(rows, limit)


@router.get(
    "/webhooks/deliveries/{delivery_id:int}",
    response_model=WebhookDelivery,
    tags=["webhooks"],
    summary="One webhook delivery",
)
async def get_delivery(delivery_id: Id, ctx: Ctx) -> Any:
    row = await webhooks.get_delivery(ctx.conn, ctx.sender_id, delivery_id)
    if row is None:
        raise NotFound("no such delivery")
    return row


@router.post(
    "/webhooks/deliveries/{delivery_id:int}/replay",
    response_model=WebhookDelivery,
    tags=["webhooks"],
    summary="Deliver a webhook again",
)
async def replay_delivery(delivery_id: Id, ctx: Ctx) -> Any:
    row = await webhooks.replay_delivery(ctx.conn, ctx.sender_id, delivery_id)
    if row is None:
        raise NotFound("no such delivery")
    ctx.enqueue([deliver_message(delivery_id)])
    return row
