"""/v1/segments: saved segments of the sender with their live count."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from services.api.deps import Ctx, Id
from services.api.errors import ERROR_RESPONSES
from services.api.idempotency import Idem
from services.api.pagination import Cursor, Limit, before_id, id_page
from services.api.schemas.common import Page
from services.api.schemas.segments import Segment, SegmentCount, SegmentIn, SegmentPatch
from shared.segments import repository as segments_repo
from shared.segments import service as segments

router = APIRouter(prefix="/v1/segments", tags=["segments"], responses=ERROR_RESPONSES)


@router.post(
    "",
    status_code=201,
    response_model=Segment,
    summary="Save a segment",
    responses={409: {"description": "The sender has a segment of that name."}},
)
async def create_segment(body: SegmentIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    row = await segments.create(ctx.conn, ctx.sender_id, body.name, body.filter)
    row["count"] = await segments.count(ctx.conn, ctx.sender_id, row["id"])
    return await idem.respond(201, Segment.model_validate(row))


@router.get("", response_model=Page[Segment], summary="List segments")
async def list_segments(ctx: Ctx, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    rows = await segments_repo.list_page(
        ctx.conn, ctx.sender_id, before_id=before_id(cursor), limit=limit + 1
    )
    return id_page(rows, limit)


@router.get("/{segment_id:int}", response_model=Segment, summary="A segment with its live count")
async def get_segment(segment_id: Id, ctx: Ctx) -> Any:
    row = await segments.get(ctx.conn, ctx.sender_id, segment_id)
    row["count"] = await segments.count(ctx.conn, ctx.sender_id, segment_id)
    return row


@router.get(
    "/{segment_id:int}/count", response_model=SegmentCount, summary="A segment's live count"
)
async def count_segment(segment_id: Id, ctx: Ctx) -> Any:
    return {"count": await segments.count(ctx.conn, ctx.sender_id, segment_id)}


@router.patch("/{segment_id:int}", response_model=Segment, summary="Rename or refilter")
async def update_segment(segment_id: Id, body: SegmentPatch, ctx: Ctx) -> Any:
    given = body.model_fields_set
    row = await segments.update(
        ctx.conn,
        ctx.sender_id,
        segment_id,
        name=body.name if "name" in given else None,
        filter=body.filter if "filter" in given else None,
    )
    row["count"] = await segments.count(ctx.conn, ctx.sender_id, segment_id)
    return row


@router.delete(
    "/{segment_id:int}",
    status_code=204,
    response_class=Response,
    summary="Delete a segment",
    responses={409: {"description": "Another segment or an automation uses it."}},
)
async def delete_segment(segment_id: Id, ctx: Ctx) -> Response:
    await segments.delete(ctx.conn, ctx.sender_id, segment_id)
    return Response(status_code=204)
