"""Consent history and GDPR export models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.api.schemas.subscribers import Subscriber


class ConsentRecord(BaseModel):
    """One act of consent or withdrawal, as recorded (append-only)."""

    id: int
    action: Literal[
        "subscribe", "confirm", "unsubscribe", "resubscribe", "preference_change", "erase_request"
    ]
    source: Literal[
        "form", "api", "admin", "import", "one_click", "email_link", "mailto", "preferences"
    ] = Field(description="Through what the act came.")
    source_ref: str | None = Field(
        description="Which one: form id, API key id, admin user id, import id, or the send id "
        "whose link was used."
    )
    at: datetime
    ip: str | None
    user_agent: str | None
    text_hash: str | None = Field(description="SHA-256 (hex) of the wording the person saw.")
    detail: dict[str, Any] | None


class ConsentHistory(BaseModel):
    items: list[ConsentRecord]


class SubscriberExport(BaseModel):
    """Everything stored about one subscriber (GDPR art. 15 and 20)."""

    format: str = Field(description="tart-mailer.subscriber-export.v1")
    exported_at: datetime
    sender_id: int
    subscriber: Subscriber
    consent: list[ConsentRecord]
    sends: list[dict[str, Any]]
    events: list[dict[str, Any]]
    reports: list[dict[str, Any]] = Field(description="Bounces, complaints, auto-replies.")
    webhook_deliveries: list[dict[str, Any]]
    truncated: list[str] = Field(description="Sections cut at 10,000 items.")
