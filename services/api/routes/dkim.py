"""/v1/sender/dkim-keys: the sender's DKIM keys. Every active key signs (RSA and Ed25519 give two
DKIM-Signature headers); a rotation creates a key under a new selector, publishes its TXT record,
then activates it, which retires the old key of the same algorithm without a gap."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from services.api.deps import Ctx, Id
from services.api.errors import ERROR_RESPONSES
from services.api.schemas.dkim import DkimKey, DkimKeyCreate, DkimKeyList
from shared.senders import dkim_keys
from shared.senders import repository as senders

router = APIRouter(prefix="/v1/sender/dkim-keys", tags=["sender"], responses=ERROR_RESPONSES)


async def _from_address(ctx: Ctx) -> str:
    sender = await senders.get_public_sender(ctx.conn, ctx.sender_id)
    assert sender is not None  # the key's sender exists while the key does
    return str(sender["address"])


@router.get("", response_model=DkimKeyList, summary="The sender's DKIM keys")
async def list_keys(ctx: Ctx) -> Any:
    return {"items": await dkim_keys.list_keys(ctx.conn, ctx.sender_id, await _from_address(ctx))}


@router.post(
    "",
    response_model=DkimKey,
    status_code=201,
    summary="Create (or import) a DKIM key",
    description="The key starts `next`: publish `dns_value` as a TXT record at `dns_name`, then "
    "activate it. A selector is never reused (409).",
)
async def create_key(body: DkimKeyCreate, ctx: Ctx) -> Any:
    return await dkim_keys.create_key(
        ctx.conn, ctx.sender_id, await _from_address(ctx),
        selector=body.selector, algorithm=body.algorithm, private_key=body.private_key,
    )  # fmt: skip


@router.get("/{dkim_key_id:int}", response_model=DkimKey, summary="One DKIM key")
async def get_key(dkim_key_id: Id, ctx: Ctx) -> Any:
    return await dkim_keys.get_key(ctx.conn, ctx.sender_id, dkim_key_id, await _from_address(ctx))


@router.post(
    "/{dkim_key_id:int}/activate",
    response_model=DkimKey,
    summary="Sign with this key",
    description="From the next batch on every message carries this key's signature; the active "
    "key of the same algorithm is retired in the same transaction. Publish the TXT record first.",
)
async def activate_key(dkim_key_id: Id, ctx: Ctx) -> Any:
    address = await _from_address(ctx)
    return await dkim_keys.activate_key(ctx.conn, ctx.sender_id, dkim_key_id, address)


@router.post(
    "/{dkim_key_id:int}/retire",
    response_model=DkimKey,
    summary="Stop signing with this key",
    description="Keep its TXT record published for a while: mail it signed is still verified.",
)
async def retire_key(dkim_key_id: Id, ctx: Ctx) -> Any:
    address = await _from_address(ctx)
    return await dkim_keys.retire_key(ctx.conn, ctx.sender_id, dkim_key_id, address)


@router.delete(
    "/{dkim_key_id:int}",
    status_code=204,
    summary="Delete a DKIM key that does not sign",
    description="An active key is a 409: retire it first.",
)
async def delete_key(dkim_key_id: Id, ctx: Ctx) -> Response:
    await dkim_keys.delete_key(ctx.conn, ctx.sender_id, dkim_key_id)
    return Response(status_code=204)
