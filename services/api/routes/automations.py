"""/v1/automations: sequences of wait / send / condition steps, their statistics, and who is
where."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from services.api.deps import Ctx, Id
from services.api.errors import ERROR_RESPONSES
from services.api.idempotency import Idem
from services.api.pagination import Cursor, Limit, before_id, decode_cursor, encode_cursor, id_page
from services.api.schemas.automations import (
    Automation,
    AutomationIn,
    AutomationPatch,
    AutomationStatistics,
    Progress,
    StepIn,
    WaitStep,
)
from services.api.schemas.common import Page
from shared.automations import repository as automations_repo
from shared.automations import service as automations
from shared.automations.service import Step

router = APIRouter(prefix="/v1/automations", tags=["automations"], responses=ERROR_RESPONSES)


def _steps(steps: list[StepIn]) -> list[Step]:
    out = []
    for st in steps:
        if isinstance(st, WaitStep):
            seconds = st.minutes * 60 + st.hours * 3600 + st.days * 86400
            out.append(Step("wait", wait_seconds=seconds))
        elif st.kind == "send":
            out.append(Step("send", email_id=st.email_id))
        else:
            out.append(Step("condition", segment_id=st.segment_id))
    return out


@router.post(
    "",
    status_code=201,
    response_model=Automation,
    summary="Create a sequence",
    responses={409: {"description": "The sender has a sequence of that name."}},
)
async def create_automation(body: AutomationIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    row = await automations.create(
        ctx.conn,
        ctx.sender_id,
        name=body.name,
        trigger=body.trigger,
        segment_id=body.segment_id,
        date_property=body.date_property,
        steps=_steps(body.steps),
        active=body.active,
    )
    full = await automations.get(ctx.conn, ctx.sender_id, row["id"])
    return await idem.respond(201, Automation.model_validate(full))


@router.get("", response_model=Page[Automation], summary="List sequences")
async def list_automations(ctx: Ctx, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    rows = await automations_repo.list_page(
        ctx.conn, ctx.sender_id, before_id=before_id(cursor), limit=limit + 1
    )
    return id_page(rows, limit)


@router.get("/{automation_id:int}", response_model=Automation, summary="A sequence and its steps")
async def get_automation(automation_id: Id, ctx: Ctx) -> Any:
    return await automations.get(ctx.conn, ctx.sender_id, automation_id)


@router.patch(
    "/{automation_id:int}",
    response_model=Automation,
    summary="Rename, pause, resume or replace the steps",
    description="New steps apply to those who have not reached them yet.",
)
async def update_automation(automation_id: Id, body: AutomationPatch, ctx: Ctx) -> Any:
    given = body.model_fields_set
    return await automations.update(
        ctx.conn,
        ctx.sender_id,
        automation_id,
        name=body.name if "name" in given else None,
        state=body.state if "state" in given else None,
        steps=_steps(body.steps) if "steps" in given else None,
    )


@router.post("/{automation_id:int}/pause", response_model=Automation, summary="Pause")
async def pause_automation(automation_id: Id, ctx: Ctx) -> Any:
    return await automations.update(ctx.conn, ctx.sender_id, automation_id, state="paused")


@router.post("/{automation_id:int}/resume", response_model=Automation, summary="Resume")
async def resume_automation(automation_id: Id, ctx: Ctx) -> Any:
    return await automations.update(ctx.conn, ctx.sender_id, automation_id, state="active")


@router.delete("/{automation_id:int}", status_code=204, response_class=Response, summary="Delete")
async def delete_automation(automation_id: Id, ctx: Ctx) -> Response:
    await automations.delete(ctx.conn, ctx.sender_id, automation_id)
    return Response(status_code=204)


@router.get(
    "/{automation_id:int}/statistics",
    response_model=AutomationStatistics,
    summary="Statistics per step",
)
async def automation_statistics(automation_id: Id, ctx: Ctx) -> Any:
    return await automations.statistics(ctx.conn, ctx.sender_id, automation_id)


@router.get(
    "/{automation_id:int}/subscribers",
    response_model=Page[Progress],
    summary="Who is where",
)
async def automation_subscribers(
    automation_id: Id,
    ctx: Ctx,
    limit: Limit = 100,
    cursor: Cursor = None,
    state: Annotated[Literal["waiting", "done", "stopped", "left"] | None, Query()] = None,
) -> dict[str, Any]:
    await automations.get(ctx.conn, ctx.sender_id, automation_id)
    after = decode_cursor(cursor)
    rows = await automations_repo.progress_page(
        ctx.conn, automation_id, state=state, after_id=after[1] if after else 0, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(None, rows[-1]["subscriber_id"]) if more and rows else None
    return {"items": rows, "next_cursor": next_cursor}
