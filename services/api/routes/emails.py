"""/v1/emails: emails with nested variations, variation CRUD and previews."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from services.api.deps import Ctx, Id
from services.api.errors import ERROR_RESPONSES
from services.api.idempotency import Idem
from services.api.pagination import Cursor, Limit, before_id, id_page
from services.api.schemas.common import Page
from services.api.schemas.emails import (
    Email,
    EmailIn,
    EmailPatch,
    Preview,
    Variation,
    VariationIn,
    VariationPatch,
)
from shared.db import Conn, Row
from shared.emails import repository as emails
from shared.errors import Conflict, NotFound, Unprocessable
from shared.layouts import service as layouts
from shared.limits import MAX_ID
from shared.rendering import MessageUrls, render_variation, validate_templates
from shared.senders import repository as senders
from shared.subscribers import repository as subscribers

router = APIRouter(prefix="/v1/emails", tags=["emails"], responses=ERROR_RESPONSES)
EDITABLE_STATES = ("draft", "scheduled", "paused", "sent")


async def _with_variations(conn: Conn, sender_id: int, rows: list[Row]) -> list[Row]:
    by_email: dict[int, list[Row]] = {row["id"]: [] for row in rows}
    if rows:
        for v in await emails.list_variations(conn, sender_id, list(by_email)):
            by_email[v["email_id"]].append(v)
    for row in rows:
        row["variations"] = by_email[row["id"]]
    return rows


async def _email(conn: Conn, sender_id: int, email_id: int) -> Row:
    row = await emails.get_email(conn, sender_id, email_id)
    if row is None:
        raise NotFound("no such email")
    return (await _with_variations(conn, sender_id, [row]))[0]


def _check_templates(subject: str, plain: str | None, html: str | None) -> None:
    validate_templates(subject, plain, html)


@router.post("", status_code=201, response_model=Email, summary="Create an email")
async def create_email(body: EmailIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    for v in body.variations:
        _check_templates(v.subject, v.plain_body, v.html_body)
    await layouts.check_choice(
        ctx.conn, ctx.sender_id, body.layout_id, transactional=body.transactional
    )
    values = body.model_dump(exclude={"variations"})
    row = await emails.create_email(ctx.conn, ctx.sender_id, values)
    for v in body.variations:
        await emails.create_variation(ctx.conn, ctx.sender_id, row["id"], v.model_dump())
    return await idem.respond(
        201, Email.model_validate(await _email(ctx.conn, ctx.sender_id, row["id"]))
    )


@router.get("", response_model=Page[Email], summary="List emails")
async def list_emails(
    ctx: Ctx,
    limit: Limit = 100,
    cursor: Cursor = None,
    state: Literal["draft", "scheduled", "sending", "paused", "sent", "cancelled"] | None = None,
) -> dict[str, Any]:
    rows = await emails.list_emails(
        ctx.conn, ctx.sender_id, state=state, before_id=before_id(cursor), limit=limit + 1
    )
    page = id_page(rows, limit)
    page["items"] = await _with_variations(ctx.conn, ctx.sender_id, page["items"])
    return page


@router.get("/{email_id:int}", response_model=Email, summary="Get an email")
async def get_email(email_id: Id, ctx: Ctx) -> Any:
    return await _email(ctx.conn, ctx.sender_id, email_id)


@router.patch("/{email_id:int}", response_model=Email, summary="Update an email")
async def update_email(email_id: Id, body: EmailPatch, ctx: Ctx) -> Any:
    locked = await emails.lock_email(ctx.conn, ctx.sender_id, email_id)
    if locked is None:
        raise NotFound("no such email")
    if locked["state"] not in EDITABLE_STATES:
        raise Conflict(f"an email in state {locked['state']} cannot be changed")
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    if "layout_id" in changes or "transactional" in changes:
        current = await emails.get_email(ctx.conn, ctx.sender_id, email_id)
        assert current is not None  # locked above
        await layouts.check_choice(
            ctx.conn, ctx.sender_id, changes.get("layout_id", current["layout_id"]),
            transactional=bool(changes.get("transactional", current["transactional"])),
        )  # fmt: skip
    row = await emails.update_email(ctx.conn, ctx.sender_id, email_id, changes)
    assert row is not None  # locked above
    return (await _with_variations(ctx.conn, ctx.sender_id, [row]))[0]


@router.delete(
    "/{email_id:int}", status_code=204, response_class=Response, summary="Delete a draft email"
)
async def delete_email(email_id: Id, ctx: Ctx) -> Response:
    locked = await emails.lock_email(ctx.conn, ctx.sender_id, email_id)
    if locked is None:
        raise NotFound("no such email")
    if locked["state"] != "draft":
        raise Conflict("only a draft email can be deleted")
    await emails.delete_email(ctx.conn, ctx.sender_id, email_id)
    return Response(status_code=204)


@router.post(
    "/{email_id:int}/variations",
    status_code=201,
    response_model=Variation,
    summary="Add a variation",
)
async def create_variation(email_id: Id, body: VariationIn, ctx: Ctx, idem: Idem) -> Any:
    if idem.replay is not None:
        return idem.replay
    await _editable(ctx, email_id)
    _check_templates(body.subject, body.plain_body, body.html_body)
    row = await emails.create_variation(ctx.conn, ctx.sender_id, email_id, body.model_dump())
    if row is None:
        raise NotFound("no such email")
    return await idem.respond(201, Variation.model_validate(row))


async def _editable(ctx: Ctx, email_id: int) -> None:
    locked = await emails.lock_email(ctx.conn, ctx.sender_id, email_id)
    if locked is None:
        raise NotFound("no such email")
    if locked["state"] not in EDITABLE_STATES:
        raise Conflict(f"variations of an email in state {locked['state']} cannot change")


@router.get(
    "/{email_id:int}/variations/{variation_id:int}",
    response_model=Variation,
    summary="Get a variation",
)
async def get_variation(email_id: Id, variation_id: Id, ctx: Ctx) -> Any:
    row = await emails.get_variation(ctx.conn, ctx.sender_id, email_id, variation_id)
    if row is None:
        raise NotFound("no such variation")
    return row


@router.patch(
    "/{email_id:int}/variations/{variation_id:int}",
    response_model=Variation,
    summary="Update a variation",
)
async def update_variation(email_id: Id, variation_id: Id, body: VariationPatch, ctx: Ctx) -> Any:
    await _editable(ctx, email_id)
    current = await emails.get_variation(ctx.conn, ctx.sender_id, email_id, variation_id)
    if current is None:
        raise NotFound("no such variation")
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    merged = {**current, **changes}
    if not (merged["plain_body"] or merged["html_body"]):
        raise Unprocessable("a variation needs a plain or an HTML body")
    _check_templates(merged["subject"], merged["plain_body"], merged["html_body"])
    return await emails.update_variation(ctx.conn, ctx.sender_id, email_id, variation_id, changes)


@router.delete(
    "/{email_id:int}/variations/{variation_id:int}",
    status_code=204,
    response_class=Response,
    summary="Delete a variation",
)
async def delete_variation(email_id: Id, variation_id: Id, ctx: Ctx) -> Response:
    await _editable(ctx, email_id)
    if await emails.get_variation(ctx.conn, ctx.sender_id, email_id, variation_id) is None:
        raise NotFound("no such variation")
    if await emails.count_variations(ctx.conn, email_id) <= 1:
        raise Conflict("an email keeps at least one variation")
    await emails.delete_variation(ctx.conn, ctx.sender_id, email_id, variation_id)
    return Response(status_code=204)


@router.get(
    "/{email_id:int}/variations/{variation_id:int}/preview",
    response_model=Preview,
    summary="Render a variation for a subscriber",
)
async def preview_variation(
    email_id: Id,
    variation_id: Id,
    ctx: Ctx,
    subscriber_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Any:
    """Renders with the subscriber's properties (or sample values without one). Links point at a
    preview token that the public service does not accept."""
    variation = await emails.get_variation(ctx.conn, ctx.sender_id, email_id, variation_id)
    if variation is None:
        raise NotFound("no such variation")
    subscriber: Row = {"address": "subscriber@example.com", "locale": "C", "properties": {}}
    if subscriber_id is not None:
        found = await subscribers.get(ctx.conn, ctx.sender_id, subscriber_id)
        if found is None:
            raise NotFound("no such subscriber")
        subscriber = found
    sender = await senders.get_sender(ctx.conn, ctx.sender_id)
    assert sender is not None
    urls = MessageUrls.for_send(sender["public_base_url"], "preview")
    rendered = render_variation(
        variation, subscriber, urls, track_clicks=variation["email_track_clicks"]
    )
    return {
        "subject": rendered.subject,
        "plain": rendered.plain,
        "html": rendered.html,
        "links": rendered.links,
    }
