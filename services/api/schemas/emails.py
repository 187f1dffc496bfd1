"""Email, variation and sending models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, model_validator

from services.api.schemas.common import (
    Address,
    HttpUrl,
    Locale,
    OneLine,
    Strict,
    Text,
    omittable,
)
from shared.campaigns.abtest import DEFAULT_MIN_SENDS, MAX_MIN_SENDS
from shared.limits import (
    AB_SHARE_MAX,
    AB_SHARE_MIN,
    AB_WAIT_MINUTES_MAX,
    AB_WAIT_MINUTES_MIN,
    MAX_COUNT_MAX,
    MAX_ID,
    WEIGHT_MAX,
    WEIGHT_MIN,
)

BodyText = Text


class VariationIn(Strict):
    """A subject plus a plain and/or HTML body (Jinja2, sandboxed)."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "name": "A",
                    "subject": "Hello {{ first_name }}",
                    "plain_body": "Hi {{ first_name }}! Unsubscribe: {{ unsubscribe_url }}",
                    "html_body": "<p>Hi {{ first_name }}!</p>",
                }
            ]
        },
    }
    name: str = Field("", max_length=200, pattern=r"^[^\x00]*$")
    subject: OneLine
    plain_body: BodyText | None = Field(None, max_length=1_000_000)
    html_body: BodyText | None = Field(None, max_length=1_000_000)
    weight: int = Field(
        1, ge=WEIGHT_MIN, le=WEIGHT_MAX, description="Share of the audience in A/B splits."
    )
    state: Literal["active", "disabled"] = "active"

    @model_validator(mode="after")
    def _has_body(self) -> VariationIn:
        if not (self.plain_body or self.html_body):
            raise ValueError("a variation needs a plain or an HTML body")
        return self


class VariationPatch(Strict):
    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{"weight": 2}]}}
    name: str = omittable(max_length=200, pattern=r"^[^\x00]*$")
    subject: OneLine = omittable()
    plain_body: BodyText | None = Field(None, max_length=1_000_000)
    html_body: BodyText | None = Field(None, max_length=1_000_000)
    weight: int = omittable(ge=WEIGHT_MIN, le=WEIGHT_MAX)
    state: Literal["active", "disabled"] = omittable()


class Variation(BaseModel):
    id: int
    email_id: int
    name: str
    subject: str
    plain_body: str | None
    html_body: str | None
    weight: int
    state: Literal["active", "disabled"]
    created_at: datetime
    updated_at: datetime


class EmailIn(Strict):
    """A draft email with its variations."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "name": "March newsletter",
                    "locales": ["en_US"],
                    "variations": [{"subject": "News", "plain_body": "Hello {{ address }}"}],
                }
            ]
        },
    }
    name: OneLine
    bulk: StrictBool = True
    redirect_url: HttpUrl | None = None
    locales: list[Locale] = Field(default_factory=list, max_length=100)
    track_clicks: StrictBool = True
    transactional: StrictBool = Field(
        False,
        description="Sent one at a time through /v1/transactional (repeatable, any address, "
        "per-send data), never in bulk; implies bulk false.",
    )
    layout_id: int | None = Field(None, ge=1, le=MAX_ID, description="The sender's layout.")
    variations: list[VariationIn] = Field(min_length=1, max_length=26)


class EmailPatch(Strict):
    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{"name": "April"}]}}
    name: OneLine = omittable()
    bulk: StrictBool = omittable()
    redirect_url: HttpUrl | None = None
    locales: list[Locale] = omittable(max_length=100)
    track_clicks: StrictBool = omittable()
    transactional: StrictBool = omittable()
    layout_id: int | None = Field(None, ge=1, le=MAX_ID)


EmailState = Literal["draft", "scheduled", "sending", "paused", "sent", "cancelled"]


class Email(BaseModel):
    id: int
    name: str
    bulk: bool
    redirect_url: str | None
    locales: list[str]
    track_clicks: bool
    state: EmailState
    transactional: bool
    layout_id: int | None
    followup_of: int | None = Field(
        None, description="The email whose non-openers this copy follows up (resend)."
    )
    created_at: datetime
    updated_at: datetime
    variations: list[Variation]


class Preview(BaseModel):
    subject: str
    plain: str | None
    html: str | None
    links: list[str]


class AbTest(Strict):
    """A/B winner mode: send to ``share`` of the audience, wait, then the rest gets the winner."""

    share: float = Field(ge=AB_SHARE_MIN, le=AB_SHARE_MAX, examples=[0.2])
    wait_minutes: int = Field(ge=AB_WAIT_MINUTES_MIN, le=AB_WAIT_MINUTES_MAX)
    metric: Literal["open", "click"] = "click"
    min_sends: int | None = Field(
        None,
        ge=1,
        le=MAX_MIN_SENDS,
        description="Sends each variation needs before a winner is picked; below it the rest "
        f"gets the first active variation. Default {DEFAULT_MIN_SENDS}.",
    )


class BulkSendIn(Strict):
    """Queue the email to the subscribers matching the filters."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"locales": ["en_US"], "filter": 'plan = "pro"', "max_count": 1000}]
        },
    }
    locales: list[Locale] = Field(default_factory=list, max_length=100)
    contains: dict[str, Any] = Field(
        default_factory=dict, description="Properties the subscriber must contain (jsonb @>)."
    )
    filter: str | dict[str, Any] | None = Field(
        None, description="Property filter, text or JSON form (see the filter language)."
    )
    segment_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Only the members of this saved segment."
    )
    max_count: int | None = Field(None, ge=1, le=MAX_COUNT_MAX)
    scheduled_at: datetime | None = None
    ab: AbTest | None = None


class BulkSendOut(BaseModel):
    job_id: int = Field(description="The campaign id.")
    recipient_count: int
    state: str


class SendToSubscriberIn(Strict):
    """A transactional send to one subscriber, by id or address (as in 2013)."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"address": "ada@example.com"}],
            "oneOf": [{"required": ["subscriber_id"]}, {"required": ["address"]}],
        },
    }
    subscriber_id: int = omittable(ge=1, le=MAX_ID)
    address: Address = omittable()

    @model_validator(mode="after")
    def _one(self) -> SendToSubscriberIn:
        if len(self.model_fields_set & {"subscriber_id", "address"}) != 1:
            raise ValueError("give exactly one of subscriber_id and address")
        return self


class SendQueued(BaseModel):
    send_id: int
    state: str


class RetryOut(BaseModel):
    retried: int


class Progress(BaseModel):
    model_config = {"extra": "allow"}
    email_id: int
    state: str
    paused_reason: str | None = Field(
        None, description="Why the bounce and complaint guard paused the email (else null)."
    )
