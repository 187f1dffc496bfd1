"""/v1/forms, /v1/topics and /v1/optin: subscription forms, the topics they offer, the double
opt-in confirmation mail and the sender's default welcome email."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response

from services.api.deps import Ctx, Id
from services.api.errors import ERROR_RESPONSES
from services.api.schemas.forms import (
    ConfirmationTemplate,
    ConfirmationTemplateIn,
    Form,
    FormIn,
    FormList,
    Topic,
    TopicIn,
    TopicList,
    Welcome,
    WelcomeIn,
)
from shared.errors import NotFound, Unprocessable
from shared.forms import repository as forms
from shared.forms import service
from shared.optin import mail
from shared.optin import repository as optin
from shared.topics import repository as topics

router = APIRouter(prefix="/v1", tags=["forms"], responses=ERROR_RESPONSES)
TopicKey = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="Topic key.")]
LanguagePath = Annotated[Literal["en", "tr"], Path(description="Mail language.")]


def _settings(body: FormIn) -> service.FormSettings:
    return service.FormSettings(**body.model_dump())


async def _one(ctx: Any, row: dict[str, Any]) -> dict[str, Any]:
    return (await service.describe(ctx.conn, ctx.sender_id, [row]))[0]


@router.get("/forms", response_model=FormList, summary="List forms")
async def list_forms(ctx: Ctx) -> Any:
    rows = await forms.list_forms(ctx.conn, ctx.sender_id)
    return {"items": await service.describe(ctx.conn, ctx.sender_id, rows)}


@router.post("/forms", status_code=201, response_model=Form, summary="Create a form")
async def create_form(body: FormIn, ctx: Ctx) -> Any:
    settings = _settings(body)
    await service.validate(ctx.conn, ctx.sender_id, settings)
    row = await forms.create_form(ctx.conn, ctx.sender_id, settings.as_params())
    return await _one(ctx, row)


@router.get("/forms/{form_id:int}", response_model=Form, summary="Get a form")
async def get_form(form_id: Id, ctx: Ctx) -> Any:
    row = await forms.get_form(ctx.conn, ctx.sender_id, form_id)
    if row is None:
        raise NotFound(f"form {form_id} not found")
    return await _one(ctx, row)


@router.put("/forms/{form_id:int}", response_model=Form, summary="Replace a form's settings")
async def update_form(form_id: Id, body: FormIn, ctx: Ctx) -> Any:
    settings = _settings(body)
    await service.validate(ctx.conn, ctx.sender_id, settings)
    row = await forms.update_form(ctx.conn, ctx.sender_id, form_id, settings.as_params())
    if row is None:
        raise NotFound(f"form {form_id} not found")
    return await _one(ctx, row)


@router.delete("/forms/{form_id:int}", status_code=204, summary="Delete a form")
async def delete_form(form_id: Id, ctx: Ctx) -> Response:
    if not await forms.delete_form(ctx.conn, ctx.sender_id, form_id):
        raise NotFound(f"form {form_id} not found")
    return Response(status_code=204)


@router.get("/topics", response_model=TopicList, summary="List the sender's topics")
async def list_topics(ctx: Ctx) -> Any:
    return {"items": await topics.list_topics(ctx.conn, ctx.sender_id)}


@router.put(
    "/topics/{key}",
    response_model=Topic,
    summary="Declare or relabel a topic",
    responses={201: {"model": Topic, "description": "Declared."}},
)
async def put_topic(key: TopicKey, body: TopicIn, ctx: Ctx, response: Response) -> Any:
    """A topic is a boolean property (``properties[key]`` is ``true`` for a subscriber who
    chose it) that forms offer as a checkbox."""
    declared = await topics.list_topics(ctx.conn, ctx.sender_id)
    if len(declared) >= topics.MAX_TOPICS and all(t["key"] != key for t in declared):
        raise Unprocessable(f"a sender has at most {topics.MAX_TOPICS} topics")
    row = await topics.put_topic(
        ctx.conn, ctx.sender_id, key,
        label_en=body.label_en, label_tr=body.label_tr, position=body.position,
    )  # fmt: skip
    if row["inserted"]:
        response.status_code = 201
    return row


@router.delete("/topics/{key}", status_code=204, summary="Delete a topic")
async def delete_topic(key: TopicKey, ctx: Ctx) -> Response:
    if not await topics.delete_topic(ctx.conn, ctx.sender_id, key):
        raise NotFound(f"topic {key!r} not found")
    return Response(status_code=204)


@router.get(
    "/optin/templates/{language}",
    response_model=ConfirmationTemplate,
    summary="The confirmation mail of a language",
)
async def get_template(language: LanguagePath, ctx: Ctx) -> Any:
    return mail.template_for(await optin.get_template(ctx.conn, ctx.sender_id, language), language)


@router.put(
    "/optin/templates/{language}",
    response_model=ConfirmationTemplate,
    summary="Replace the confirmation mail of a language",
)
async def put_template(language: LanguagePath, body: ConfirmationTemplateIn, ctx: Ctx) -> Any:
    mail.validate_template(body.subject, body.plain_body, body.html_body)
    row = await optin.put_template(
        ctx.conn, ctx.sender_id, language,
        subject=body.subject, plain_body=body.plain_body, html_body=body.html_body,
    )  # fmt: skip
    return mail.template_for(row, language)


@router.delete(
    "/optin/templates/{language}",
    response_model=ConfirmationTemplate,
    summary="Go back to the built-in confirmation mail of a language",
)
async def reset_template(language: LanguagePath, ctx: Ctx) -> Any:
    await optin.delete_template(ctx.conn, ctx.sender_id, language)
    return mail.template_for(None, language)


@router.get("/optin/welcome", response_model=Welcome, summary="The default welcome email")
async def get_welcome(ctx: Ctx) -> Any:
    return {"email_id": await optin.sender_welcome(ctx.conn, ctx.sender_id)}


@router.put("/optin/welcome", response_model=Welcome, summary="Set the default welcome email")
async def put_welcome(body: WelcomeIn, ctx: Ctx) -> Any:
    """Sent once to each subscriber whose subscription starts (confirmed, or created by a form
    without double opt-in), unless their form names its own."""
    if body.email_id is not None and not await forms.email_exists(
        ctx.conn, ctx.sender_id, body.email_id
    ):
        raise Unprocessable(f"email_id: email {body.email_id} not found")
    await optin.set_sender_welcome(ctx.conn, ctx.sender_id, body.email_id)
    return {"email_id": body.email_id}
