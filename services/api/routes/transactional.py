"""/v1/transactional: send a transactional email (one, or a batch of up to 500), read a send's
status back, list an email's recent sends; /v1/layouts: the sender's layouts. Sends are queued
on the priority lane after the request commits."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import ValidationError

from services.api.deps import Ctx, Id
from services.api.errors import ERROR_RESPONSES
from services.api.idempotency import Idem
from services.api.schemas.transactional import (
    BatchIn,
    BatchOut,
    Layout,
    LayoutIn,
    LayoutPatch,
    RecentSend,
    SendStatus,
    TransactionalIn,
    TransactionalOut,
)
from shared.errors import AppError, Unprocessable
from shared.layouts import service as layouts
from shared.transactional import service as transactional
from shared.transactional.service import SendRequest

router = APIRouter(tags=["transactional"], responses=ERROR_RESPONSES)


def _request(body: TransactionalIn) -> SendRequest:
    return SendRequest(
        email_id=body.email_id,
        to=body.to,
        subscriber_id=body.subscriber_id,
        data=body.data,
        headers=body.headers,
        attachments=[a.model_dump() for a in body.attachments or []],
    )


@router.post(
    "/v1/transactional",
    status_code=202,
    response_model=TransactionalOut,
    summary="Send a transactional email to any address or subscriber",
    responses={
        410: {"description": "The recipient bounced, complained or was erased."},
        413: {"description": "The data or the attachments are over their size cap."},
    },
)
async def send(body: TransactionalIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    row, jobs = await transactional.queue_send(
        ctx.conn, sender_id=ctx.sender_id, email_id=body.email_id, to=body.to,
        subscriber_id=body.subscriber_id, data=body.data, headers=body.headers,
        attachments=[a.model_dump() for a in body.attachments or []],
    )  # fmt: skip
    ctx.enqueue(jobs)
    return await idem.respond(202, {"send_id": row["id"], "state": row["state"]})


def _error_text(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))


@router.post(
    "/v1/transactional/batch",
    status_code=200,
    response_model=BatchOut,
    summary="Send up to 500 transactional emails, each answered on its own",
)
async def send_batch(body: BatchIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    requests: list[SendRequest | None] = []
    errors: dict[int, AppError] = {}
    for i, item in enumerate(body.messages):
        try:
            requests.append(_request(TransactionalIn.model_validate(item)))
        except ValidationError as error:
            requests.append(None)
            errors[i] = Unprocessable(_error_text(error))
    valid = [(i, r) for i, r in enumerate(requests) if r is not None]
    queued = await transactional.queue_sends(ctx.conn, ctx.sender_id, [r for _, r in valid])
    ctx.enqueue(queued.jobs)
    results: list[dict[str, Any]] = []
    for i in range(len(requests)):
        results.append({"index": i, "send_id": None, "state": None, "error": None,
                        "detail": None, "status_code": 422})  # fmt: skip
    for (i, _), outcome in zip(valid, queued.outcomes, strict=True):
        if outcome.error is not None:
            errors[i] = outcome.error
        elif outcome.send is not None:
            results[i].update(send_id=outcome.send["id"], state=outcome.send["state"],
                              status_code=202)  # fmt: skip
    for i, refused in errors.items():
        results[i].update(error=refused.error_type, detail=refused.detail,
                          status_code=refused.status_code)  # fmt: skip
    accepted = sum(1 for r in results if r.get("send_id") is not None)
    out = {"accepted": accepted, "refused": len(results) - accepted, "results": results}
    return await idem.respond(200, out)


@router.get(
    "/v1/transactional/sends/{send_id:int}",
    response_model=SendStatus,
    summary="A send's status, SMTP reply, data and events",
)
async def get_send(send_id: Id, ctx: Ctx) -> Any:
    return await transactional.send_status(ctx.conn, ctx.sender_id, send_id)


@router.get(
    "/v1/emails/{email_id:int}/transactional-sends",
    response_model=list[RecentSend],
    summary="A transactional email's recent sends, newest first",
)
async def recent_sends(
    email_id: Id,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> Any:
    return await transactional.recent_sends(
        ctx.conn, ctx.sender_id, email_id, before_id=before_id, limit=limit
    )


@router.get("/v1/layouts", response_model=list[Layout], summary="The sender's layouts")
async def list_layouts(ctx: Ctx) -> Any:
    return await layouts.list_all(ctx.conn, ctx.sender_id)


@router.post("/v1/layouts", status_code=201, response_model=Layout, summary="Create a layout")
async def create_layout(body: LayoutIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    row = await layouts.create(ctx.conn, ctx.sender_id, body.model_dump())
    return await idem.respond(201, Layout.model_validate(row))


@router.get("/v1/layouts/{layout_id:int}", response_model=Layout, summary="Get a layout")
async def get_layout(layout_id: Id, ctx: Ctx) -> Any:
    return await layouts.get(ctx.conn, ctx.sender_id, layout_id)


@router.patch("/v1/layouts/{layout_id:int}", response_model=Layout, summary="Update a layout")
async def update_layout(layout_id: Id, body: LayoutPatch, ctx: Ctx) -> Any:
    changes = body.model_dump(include=body.model_fields_set)
    return await layouts.update(ctx.conn, ctx.sender_id, layout_id, changes)


@router.delete(
    "/v1/layouts/{layout_id:int}",
    status_code=204,
    response_class=Response,
    summary="Delete a layout (its emails keep no layout)",
)
async def delete_layout(layout_id: Id, ctx: Ctx) -> Response:
    await layouts.delete(ctx.conn, ctx.sender_id, layout_id)
    return Response(status_code=204)
