"""Consent history and GDPR export models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.api.schemas.common import Address, Strict
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
    confirmations: list[dict[str, Any]] = Field(description="A pending double opt-in.")
    webhook_deliveries: list[dict[str, Any]]
    truncated: list[str] = Field(description="Sections cut at 10,000 items.")


class Retention(BaseModel):
    """How long the sender keeps data, in days; null keeps it for ever. Events older than
    ``events_days`` are rolled up (statistics stay the same) and deleted; raw inbound mail (the
    bytes of bounces and complaints) older than ``inbound_days`` is emptied, its parsed report
    stays; finished webhook deliveries older than ``webhook_days`` are deleted. Applied by the
    scheduler every ten minutes, in batches."""

    model_config = {"extra": "forbid"}
    events_days: int | None = Field(None, ge=1, le=36500)
    inbound_days: int | None = Field(None, ge=1, le=36500)
    webhook_days: int | None = Field(None, ge=1, le=36500)


class ErasedLookupIn(Strict):
    """An address to look up among the sender's erased subscribers."""

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{"address": "a@b.org"}]}}
    address: Address


class ErasedConsentRecord(BaseModel):
    """A consent record kept after erasure: no IP, user agent or detail."""

    id: int
    action: str
    source: str
    source_ref: str | None
    at: datetime
    text_hash: str | None
    erased_at: datetime | None


class ErasedLookup(BaseModel):
    """When the address was erased, and the consent proof kept under its keyed hash."""

    erased_at: datetime
    consent: list[ErasedConsentRecord]
