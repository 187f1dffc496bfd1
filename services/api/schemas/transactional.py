"""Request and response models of /v1/transactional and /v1/layouts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool

from services.api.schemas.common import Strict, omittable
from shared.limits import MAX_ID
from shared.transactional.models import MAX_ATTACHMENTS, MAX_BATCH, MAX_HEADERS


class AttachmentIn(Strict):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=190, examples=["application/pdf"])
    content: str = Field(description="The file, base64-encoded.")


class TransactionalIn(Strict):
    """One transactional send: the email (flagged transactional), exactly one of ``to`` or
    ``subscriber_id``, and the send's own data, headers and attachments."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "email_id": 7,
                    "to": "ada@example.com",
                    "data": {"order_id": "A-1001", "total": "42.00"},
                    "headers": {"Reply-To": "support@example.com", "X-Order": "A-1001"},
                }
            ]
        },
    }
    email_id: int = Field(ge=1, le=MAX_ID)
    # Checked by the service (one message: the same words in a batch's per-item errors).
    to: str | None = Field(
        None,
        max_length=254,
        description="Any address (no subscriber row is created); a subscriber's address sends "
        "as that subscriber.",
    )
    subscriber_id: int | None = Field(None, ge=1, le=MAX_ID)
    data: dict[str, Any] | None = Field(
        None, description="Seen by the templates as `data`; kept with the send (size-capped)."
    )
    headers: dict[str, str] | None = Field(
        None, max_length=MAX_HEADERS, description="Reply-To and custom X- headers only."
    )
    attachments: list[AttachmentIn] | None = Field(None, max_length=MAX_ATTACHMENTS)


class TransactionalOut(BaseModel):
    send_id: int
    state: str


class BatchIn(Strict):
    """Up to 500 sends, each validated and answered on its own."""

    messages: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


class BatchItemOut(BaseModel):
    index: int
    send_id: int | None = None
    state: str | None = None
    error: str | None = None
    detail: str | None = None
    status_code: int = Field(description="The HTTP status this message alone would have got.")


class BatchOut(BaseModel):
    accepted: int
    refused: int
    results: list[BatchItemOut]


class AttachmentInfo(BaseModel):
    filename: str
    content_type: str
    size: int


class SendEvent(BaseModel):
    kind: str
    at: datetime
    link_index: int | None = None
    machine: bool = False


class SendStatus(BaseModel):
    id: int
    email_id: int
    subscriber_id: int | None
    transactional: bool
    address: str | None
    state: str
    attempts: int
    smtp_code: int | None
    smtp_reply: str | None
    error: str | None
    queued_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    bounced_at: datetime | None
    complained_at: datetime | None
    bounce_type: str | None
    open_count: int
    click_count: int
    data: dict[str, Any] | None
    headers: dict[str, str]
    attachments: list[AttachmentInfo]
    events: list[SendEvent]


class RecentSend(BaseModel):
    id: int
    state: str
    address: str | None
    smtp_code: int | None
    smtp_reply: str | None
    error: str | None
    queued_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    bounced_at: datetime | None
    data: dict[str, Any] | None


class LayoutIn(Strict):
    """A layout: ``{{ content }}`` in each part; without ``html_body``/``plain_body`` the
    default layout's (unsubscribe link, preferences link, postal address)."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\r\n]+$")
    html_body: str | None = Field(None, max_length=200_000)
    plain_body: str | None = Field(None, max_length=100_000)
    transactional: StrictBool = Field(False, description="May omit the unsubscribe link.")


class LayoutPatch(Strict):
    """Fields left out keep their value; none of them takes null."""

    name: str = omittable(min_length=1, max_length=200, pattern=r"^[^\r\n]+$")
    html_body: str = omittable(min_length=1, max_length=200_000)
    plain_body: str = omittable(min_length=1, max_length=100_000)
    transactional: StrictBool = omittable()


class Layout(BaseModel):
    id: int
    name: str
    html_body: str
    plain_body: str
    transactional: bool
    created_at: datetime
    updated_at: datetime
