"""Sender, sends, statistics, reports, DMARC and webhook models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from services.api.schemas.common import Address, HttpUrl, OneLine, Strict, omittable

WebhookEvent = Literal["send_failed", "bounce", "complaint", "unsubscribe", "open", "click"]


class Sender(BaseModel):
    id: int
    address: str
    name: str
    reply_to: str | None
    public_base_url: str
    return_path_domain: str
    dkim_selector: str | None = Field(
        description="An active DKIM key's selector (RSA first); /v1/sender/dkim-keys lists all."
    )
    dkim_algorithm: str
    rate_per_second: int | None
    rate_per_hour: int | None
    soft_bounce_limit: int
    soft_bounce_window_s: int
    anonymous_events: bool
    webhook_url: str | None
    webhook_events: list[str]
    webhook_secret_set: bool
    relay: str | None = Field(
        description="The relay (a name from TART_SMTP_RELAYS) this sender's mail always goes "
        "through; null: every configured relay in turn, skipping one that is down."
    )
    created_at: datetime
    updated_at: datetime


class SenderPatch(Strict):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"name": "Newsletter", "webhook_url": "https://hooks.example.com/tart"}]
        },
    }
    name: OneLine = omittable()
    reply_to: Address | None = None
    public_base_url: HttpUrl = omittable()
    soft_bounce_limit: int = omittable(ge=1, le=1000)
    anonymous_events: StrictBool = omittable()
    webhook_url: HttpUrl | None = None
    webhook_events: list[WebhookEvent] | None = Field(None, max_length=6)
    relay: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Pin the sender to a configured relay by name (an unknown name is a 422 that "
        "lists the names), or null for every relay in turn. While a pinned relay is down, the "
        "sender's mail waits for it (temporary failures, retried) rather than taking another.",
    )


class ApiKeyInfo(BaseModel):
    """An API key as listed: never the key itself nor its hash, only the prefix shown at
    creation so an operator can tell keys apart."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": 3,
                    "name": "shop backend",
                    "prefix": "tart_Xy3kPq0",
                    "rate_per_minute": 600,
                    "created_at": "2026-01-05T10:00:00Z",
                    "last_used_at": "2026-01-06T08:12:00Z",
                    "revoked_at": None,
                }
            ]
        }
    }
    id: int
    name: str
    prefix: str
    rate_per_minute: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyList(BaseModel):
    items: list[ApiKeyInfo]


class WebhookSecret(BaseModel):
    secret: str = Field(description="Shown once: verify X-Tart-Signature with it.")


class Event(BaseModel):
    id: int
    kind: str
    at: datetime
    ip: str | None
    user_agent: str | None
    link_index: int | None
    machine: bool
    machine_reason: str | None


class Report(BaseModel):
    id: int
    send_id: int | None = None
    subscriber_id: int | None = None
    kind: str
    recipient: str | None
    hard_or_soft: str | None
    status: str | None
    reason: str | None
    diagnostic: str | None
    feedback_type: str | None
    matched_by: str | None
    created_at: datetime


class Send(BaseModel):
    id: int
    email_id: int
    subscriber_id: int | None
    campaign_id: int | None
    variation_id: int | None
    state: Literal["queued", "sending", "sent", "failed", "cancelled"]
    attempts: int
    smtp_code: int | None
    smtp_reply: str | None
    error: str | None
    queued_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None
    viewed_at: datetime | None
    clicked_at: datetime | None
    unsubscribed_at: datetime | None
    bounced_at: datetime | None
    complained_at: datetime | None
    bounce_type: str | None
    open_count: int
    view_count: int
    click_count: int


class SendDetail(Send):
    events: list[Event]
    reports: list[Report]


class Counts(BaseModel):
    total: int
    pending: int
    sent: int
    failed: int
    cancelled: int
    opened: int = Field(description="Sends opened at least once.")
    opens: int
    viewed: int
    clicked: int
    clicks: int
    unsubscribed: int
    bounced: int
    complained: int


class VariationCounts(Counts):
    variation_id: int | None


class LocaleCounts(Counts):
    locale: str


class DayCounts(Counts):
    day: date | None = Field(description="UTC day sent; null for sends not sent yet.")


class Statistics(BaseModel):
    email_id: int
    machine_events: Literal["include", "exclude"]
    total: Counts
    variations: list[VariationCounts]
    locales: list[LocaleCounts]
    days: list[DayCounts]


class DmarcRecord(BaseModel):
    id: int
    source_ip: str
    message_count: int
    disposition: str | None
    dkim_aligned: bool
    spf_aligned: bool
    passed: bool
    header_from: str | None
    envelope_from: str | None
    envelope_to: str | None
    dkim_results: Any
    spf_results: Any
    overrides: Any


class DmarcReport(BaseModel):
    id: int
    org_name: str
    org_email: str | None
    report_id: str
    domain: str
    begin_at: datetime
    end_at: datetime
    policy: Any
    message_count: int
    pass_count: int
    created_at: datetime


class DmarcReportDetail(DmarcReport):
    errors: Any
    records: list[DmarcRecord]


class WebhookDelivery(BaseModel):
    id: int
    event: str
    payload: dict[str, Any]
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
