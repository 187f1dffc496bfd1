"""/v1/subscribers: CRUD, upsert by address, list with filters, bulk upsert, CSV import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from services.api.deps import (
    Auth,
    Ctx,
    Id,
    StatementCtx,
    audit_key_change,
    get_pool,
    get_settings,
)  # fmt: skip
from services.api.errors import ERROR_RESPONSES
from services.api.idempotency import Idem
from services.api.pagination import Cursor, Limit, before_id, decode_cursor, encode_cursor, id_page
from services.api.schemas.common import Page
from services.api.schemas.subscribers import (
    BulkUpsertIn,
    BulkUpsertOut,
    ImportJob,
    Subscriber,
    SubscriberCreateIn,
    SubscriberIn,
    SubscriberPatch,
)
from shared.audit import service as audit
from shared.consent import service as consent
from shared.db import transaction
from shared.errors import NotFound, Unprocessable
from shared.events import service as events
from shared.filters import parse_filter
from shared.imports import csv_import
from shared.imports import repository as imports
from shared.limits import MAX_ID
from shared.optin import service as optin
from shared.privacy import erasure
from shared.subscribers import listing
from shared.subscribers import repository as subscribers
from shared.subscribers.validation import LOCALE_RE

router = APIRouter(prefix="/v1/subscribers", tags=["subscribers"], responses=ERROR_RESPONSES)
IMPORT_PATH = "/v1/subscribers/imports"


@router.get("", response_model=Page[Subscriber], summary="List subscribers")
async def list_subscribers(
    ctx: StatementCtx,
    limit: Limit = 100,
    cursor: Cursor = None,
    locale: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006 - FastAPI copies it
    state: Annotated[
        list[Literal["pending", "active", "unsubscribed", "bounced", "complained"]],
        Query(max_length=5),
    ] = [],  # noqa: B006
    filter: Annotated[
        str | None,
        Query(
            max_length=20_000,
            description='The filter language, e.g. `plan = "pro" and opened within 30 days`.',
        ),
    ] = None,
    segment_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only the members of this segment.")
    ] = None,
    address_prefix: Annotated[str | None, Query(max_length=254, pattern=r"^[^\x00]+$")] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    updated_after: datetime | None = None,
    updated_before: datetime | None = None,
    order_by: Literal["id", "created_at", "updated_at"] = "id",
) -> dict[str, Any]:
    """Subscribers of the sender, filtered, in pages (keyset pagination)."""
    for value in locale:
        if not LOCALE_RE.match(value):
            raise Unprocessable(f"locale: {value!r} is not C or like en_US")
    parsed = parse_filter(filter)
    q = listing.SubscriberQuery(
        sender_id=ctx.sender_id,
        locales=locale,
        states=list(state),
        filter=parsed,
        segment_id=segment_id,
        address_prefix=address_prefix,
        created_after=created_after,
        created_before=created_before,
        updated_after=updated_after,
        updated_before=updated_before,
        order_by=order_by,
        after=decode_cursor(cursor, timestamp=order_by != "id"),
        limit=limit,
    )
    rows, more = await listing.list_page(ctx.conn, q)
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(None if order_by == "id" else last[order_by], last["id"])
    return {"items": rows, "next_cursor": next_cursor}


@router.post(
    "",
    status_code=201,
    response_model=Subscriber,
    summary="Create a subscriber",
    responses={409: {"description": "The address exists (use PUT to upsert)."}},
)
async def create_subscriber(body: SubscriberCreateIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    if body.double_opt_in:
        # pending, with its 'subscribe' consent record; the confirmation mail goes after COMMIT
        row = await optin.create_pending(
            ctx.tx,
            ctx.sender_id,
            address=body.address,
            locale=body.locale,
            properties=body.properties,
            resend_minutes=get_settings(ctx.request).optin_resend_minutes,
            api_key_id=ctx.key_id,
        )
    else:
        row = await subscribers.create(
            ctx.conn,
            ctx.sender_id,
            address=body.address,
            locale=body.locale,
            properties=body.properties,
        )
        await consent.record(
            ctx.conn,
            sender_id=ctx.sender_id,
            subscriber_id=row["id"],
            action="subscribe",
            source="api",
            source_ref=str(ctx.key_id),
        )
    return await idem.respond(201, Subscriber.model_validate(row))


@router.put(
    "",
    response_model=Subscriber,
    summary="Create or replace a subscriber by address",
    responses={201: {"model": Subscriber, "description": "Created."}},
)
async def upsert_subscriber(body: SubscriberIn, ctx: StatementCtx) -> Any:
    row = await subscribers.upsert(
        ctx.conn,
        ctx.sender_id,
        address=body.address,
        locale=body.locale,
        properties=body.properties,
        consent_ref=str(ctx.key_id),
    )
    inserted = row.pop("inserted")
    return JSONResponse(
        Subscriber.model_validate(row).model_dump(mode="json"), status_code=201 if inserted else 200
    )


@router.post("/bulk", response_model=BulkUpsertOut, summary="Bulk upsert (up to 10,000)")
async def bulk_upsert(body: BulkUpsertIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    # Plain dicts: model_dump copies each row, 11 ms per 10,000 rows against 2 ms for these.
    rows = [
        {"address": s.address, "locale": s.locale, "properties": s.properties}
        for s in body.subscribers
    ]
    created, updated = await subscribers.bulk_upsert(
        ctx.conn, ctx.sender_id, rows, consent_ref=str(ctx.key_id)
    )
    return await idem.respond(200, {"created": created, "updated": updated})


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportJob,
    summary="Import a CSV (streamed)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "address,locale,plan\nada@example.com,en_US,pro\n",
                }
            },
            "description": "A header line with `address` (required), `locale` (optional) and "
            "any other columns, which become string properties. Bad rows are reported, not fatal.",
        }
    },
)
async def import_csv(request: Request, key: Auth) -> Any:
    """Streams the body through COPY in batches, committing progress as it goes; the answer is
    the finished job with its counts and the first 100 bad rows (line numbers from 1 = header)."""
    pool = get_pool(request)
    settings = get_settings(request)
    body = await _non_empty(request.stream())
    async with transaction(pool) as tx:
        job = await imports.create_job(tx.conn, key.sender_id)
        audit.set_change(request, None, {"import_id": job["id"]})
        await audit_key_change(tx.conn, request, key)
    row = await csv_import.run_import(
        pool,
        key.sender_id,
        job["id"],
        body,
        max_bytes=settings.api_max_import_bytes,
        erasure_key=erasure.erasure_key(settings),
    )
    return JSONResponse(ImportJob.model_validate(row).model_dump(mode="json"), status_code=201)


async def _non_empty(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The same stream, once it has shown a first byte: a request without a body is refused
    before an import job is recorded for it."""
    async for first in chunks:
        if first:
            break
    else:
        raise Unprocessable("the body is empty: send a CSV file with a header line")

    async def replay() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return replay()


@router.get("/imports", response_model=Page[ImportJob], summary="List CSV imports")
async def list_imports(ctx: Ctx, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    rows = await imports.list_jobs(
        ctx.conn, ctx.sender_id, before_id=before_id(cursor), limit=limit + 1
    )
    return id_page(rows, limit)


@router.get("/imports/{import_id:int}", response_model=ImportJob, summary="Progress of an import")
async def get_import(import_id: Id, ctx: Ctx) -> Any:
    row = await imports.get_job(ctx.conn, ctx.sender_id, import_id)
    if row is None:
        raise NotFound("no such import")
    return row


@router.get("/{subscriber_id:int}", response_model=Subscriber, summary="Get a subscriber")
async def get_subscriber(subscriber_id: Id, ctx: StatementCtx) -> Any:
    row = await subscribers.get(ctx.conn, ctx.sender_id, subscriber_id)
    if row is None:
        raise NotFound("no such subscriber")
    return row


@router.patch("/{subscriber_id:int}", response_model=Subscriber, summary="Update a subscriber")
async def update_subscriber(subscriber_id: Id, body: SubscriberPatch, ctx: Ctx) -> Any:
    changes: dict[str, Any] = {}
    for name in ("locale", "properties", "state"):
        if name in body.model_fields_set and getattr(body, name) is not None:
            changes[name] = getattr(body, name)
    if body.merge_properties is not None:
        changes["merge"] = body.merge_properties
    row, messages = await events.update_subscriber(
        ctx.conn, ctx.sender_id, subscriber_id, changes, source="api", source_ref=str(ctx.key_id)
    )
    if row is None:
        raise NotFound("no such subscriber")
    ctx.enqueue(messages)
    return row


@router.delete(
    "/{subscriber_id:int}",
    status_code=204,
    response_class=Response,
    summary="Erase a subscriber (GDPR)",
)
async def erase_subscriber(subscriber_id: Id, ctx: Ctx) -> Response:
    """Removes the subscriber and their address from everywhere it was stored; sends and events
    stay as anonymous counts, consent records as proof under a keyed hash of the address."""
    erased = await erasure.erase(
        ctx.conn,
        ctx.sender_id,
        subscriber_id,
        key=erasure.erasure_key(get_settings(ctx.request)),
        source="api",
        source_ref=str(ctx.key_id),
    )
    if not erased:
        raise NotFound("no such subscriber")
    return Response(status_code=204)
