# ruff: noqa: RUF001 - a Turkish example
"""Forms, topics, confirmation mail templates and the sender's welcome email."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool

from services.api.schemas.common import HttpUrl, Strict
from shared.forms.service import MAX_FIELDS, MAX_NAME, MAX_ORIGINS, MAX_THANK_YOU, MAX_TOPICS
from shared.limits import MAX_ID

PropertyName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", examples=["first_name"])]
Origin = Annotated[
    str,
    Field(
        max_length=300,
        pattern=r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$",
        examples=["https://www.example.com"],
    ),
]
Language = Literal["en", "tr"]
Label = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00\r\n]+$")]


def _both_languages() -> list[Language]:
    return ["en", "tr"]


class FormIn(Strict):
    """A subscription form's settings (POST creates, PUT replaces them all)."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"name": "Newsletter", "fields": ["first_name"], "topics": ["news"],
                 "allowed_origins": ["https://www.example.com"]}
            ]
        },
    }  # fmt: skip
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"^[^\x00\r\n]+$")
    locales: list[Language] = Field(
        default_factory=_both_languages,
        min_length=1,
        max_length=2,
        description="Page languages offered; the first is the default.",
    )
    fields: list[PropertyName] = Field(
        default_factory=list, max_length=MAX_FIELDS, description="Text properties asked for."
    )
    field_labels: dict[PropertyName, dict[Language, Label]] = Field(
        default_factory=dict,
        max_length=MAX_FIELDS,
        description="Labels of the text fields per page language; without one a field shows "
        "its name humanised.",
        examples=[{"first_name": {"en": "First name", "tr": "Adınız"}}],
    )
    topics: list[PropertyName] = Field(
        default_factory=list,
        max_length=MAX_TOPICS,
        description="Declared topics (GET /v1/topics) offered as checkboxes.",
    )
    thank_you_text: str | None = Field(
        None, max_length=MAX_THANK_YOU, pattern=r"^[^\x00]*$", description="Shown after a submit."
    )
    redirect_url: HttpUrl | None = Field(
        None, description="Where the browser goes after a submit, instead of the thank-you text."
    )
    double_opt_in: StrictBool = Field(
        True, description="New subscribers confirm their address first."
    )
    allowed_origins: list[Origin] = Field(
        default_factory=list,
        max_length=MAX_ORIGINS,
        description="Origins whose pages may call the JSON endpoint (CORS).",
    )
    welcome_email_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Sent once when a subscription starts (confirmed)."
    )


class Form(BaseModel):
    id: int
    name: str
    locales: list[str]
    fields: list[str]
    field_labels: dict[str, dict[str, str]]
    topics: list[str]
    thank_you_text: str | None
    redirect_url: str | None
    double_opt_in: bool
    allowed_origins: list[str]
    welcome_email_id: int | None
    hosted_url: str = Field(description="The hosted page (add ?locale=tr for Turkish).")
    json_url: str = Field(description="GET for a form token, POST to subscribe (CORS).")
    embed_html: str = Field(description="A plain HTML form to paste into a page.")
    created_at: datetime
    updated_at: datetime


class FormList(BaseModel):
    items: list[Form]


class TopicIn(Strict):
    label_en: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00\r\n]+$")
    label_tr: str = Field("", max_length=200, pattern=r"^[^\x00\r\n]*$")
    position: int = Field(0, ge=0, le=10_000)


class Topic(BaseModel):
    key: str
    label_en: str
    label_tr: str
    position: int


class TopicList(BaseModel):
    items: list[Topic]


class ConfirmationTemplateIn(Strict):
    """The confirmation mail in one language. Jinja2 like an email's variations, with
    ``{{ confirm_url }}`` (required), ``{{ sender_name }}`` and ``{{ address }}``."""

    subject: str = Field(min_length=1, max_length=998, pattern=r"^[^\x00\r\n]+$")
    plain_body: str = Field(min_length=1, max_length=100_000, pattern=r"^[^\x00]*$")
    html_body: str | None = Field(None, max_length=500_000, pattern=r"^[^\x00]*$")


class ConfirmationTemplate(BaseModel):
    language: str
    subject: str
    plain_body: str
    html_body: str | None
    custom: bool = Field(description="false: the built-in default of this language.")


class WelcomeIn(Strict):
    email_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="The sender's default welcome email; null for none."
    )


class Welcome(BaseModel):
    email_id: int | None
