"""/v1/sender/esp: the sender's ESP endpoints. A provider (Amazon SES through SNS, SendGrid,
Postmark, Mailgun) posts bounces and complaints to the receiver's ``/esp/<sender>/<provider>``;
the intake takes them only once the provider is configured here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from services.api.deps import Ctx
from services.api.errors import ERROR_RESPONSES
from services.api.schemas.esp import EspEndpoint, EspEndpointList, EspEndpointPut, Provider
from shared.audit import service as audit
from shared.esp import service as esp

router = APIRouter(prefix="/v1/sender/esp", tags=["sender"], responses=ERROR_RESPONSES)


@router.get("", response_model=EspEndpointList, summary="The sender's ESP endpoints")
async def list_endpoints(ctx: Ctx) -> Any:
    return {"items": await esp.list_endpoints(ctx.conn, ctx.sender_id)}


@router.put(
    "/{provider}",
    response_model=EspEndpoint,
    summary="Configure an ESP endpoint",
    description="ses needs topic_arns, sendgrid public_key, mailgun signing_key; postmark gets a "
    "generated basic-auth password, shown once in this answer (PUT again to rotate it).",
)
async def put_endpoint(provider: Provider, body: EspEndpointPut, ctx: Ctx) -> Any:
    before = await esp.get_endpoint(ctx.conn, ctx.sender_id, provider)
    row = await esp.put_endpoint(
        ctx.conn, ctx.sender_id, provider, topic_arns=body.topic_arns,
        public_key=body.public_key, signing_key=body.signing_key, username=body.username,
    )  # fmt: skip
    audit.set_change(ctx.request, before, {**row, "password": None})  # never a secret
    return row


@router.delete("/{provider}", status_code=204, summary="Stop taking a provider's callbacks")
async def delete_endpoint(provider: Provider, ctx: Ctx) -> Response:
    before = await esp.get_endpoint(ctx.conn, ctx.sender_id, provider)
    await esp.delete_endpoint(ctx.conn, ctx.sender_id, provider)
    audit.set_change(ctx.request, before, None)
    return Response(status_code=204)
