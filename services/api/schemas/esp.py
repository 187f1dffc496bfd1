"""ESP endpoint models: where a provider posts a sender's bounces and complaints, and what the
intake verifies them with (never a stored secret; a Postmark password is shown once)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.api.schemas.common import Strict

Provider = Literal["ses", "sendgrid", "postmark", "mailgun"]


class EspEndpointPut(Strict):
    topic_arns: list[str] | None = Field(
        None, max_length=20, description="ses: the SNS topics allowed to post (their ARNs)."
    )
    public_key: str | None = Field(
        None, max_length=1000, description="sendgrid: the signed event webhook's verification key."
    )
    signing_key: str | None = Field(
        None, max_length=200, description="mailgun: the HTTP webhook signing key."
    )
    username: str | None = Field(
        None, max_length=100, description="postmark: the basic-auth user (default postmark)."
    )


class EspEndpoint(BaseModel):
    provider: Provider
    path: str = Field(description="POST path of the receiver's ESP intake (TART_ESP_PORT).")
    topic_arns: list[str]
    public_key: str | None
    username: str | None
    password: str | None = Field(
        None, description="postmark: the basic-auth password, shown once when it is set."
    )
    created_at: datetime
    updated_at: datetime


class EspEndpointList(BaseModel):
    items: list[EspEndpoint]
