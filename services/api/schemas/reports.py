"""Sender, sends, statistics, reports, DMARC and webhook models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from services.api.schemas.common import Address, HttpUrl, OneLine, Strict, omittable
from shared.limits import (
    API_KEY_RATE_DEFAULT,
    API_KEY_RATE_MAX,
    API_KEY_RATE_MIN,
    SOFT_BOUNCE_LIMIT_MAX,
    SOFT_BOUNCE_LIMIT_MIN,
)

WebhookEvent = Literal[
    "send_failed",
    "bounce",
    "complaint",
    "unsubscribe",
    "open",
    "click",
    "campaign_paused",
    "delivered",
]


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
    postal_address: str | None = Field(
        description="Shown by the default layout under every message (CAN-SPAM)."
    )
    transactional_rate_limited: bool = Field(
        description="Whether transactional sends count against rate_per_second/rate_per_hour."
    )
    guard_bounce_rate: float | None = Field(
        description="A running campaign pauses itself when its final bounces pass this share of "
        "its sent messages (null: never for bounces)."
    )
    guard_complaint_rate: float | None = Field(
        description="Likewise for complaints (null: never for complaints)."
    )
    guard_min_sent: int = Field(description="No guard verdict before this many are sent.")
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
    soft_bounce_limit: int = omittable(ge=SOFT_BOUNCE_LIMIT_MIN, le=SOFT_BOUNCE_LIMIT_MAX)
    anonymous_events: StrictBool = omittable()
    webhook_url: HttpUrl | None = None
    webhook_events: list[WebhookEvent] | None = Field(None, max_length=8)
    guard_bounce_rate: float | None = Field(None, gt=0, le=1)
    guard_complaint_rate: float | None = Field(None, gt=0, le=1)
    guard_min_sent: int = omittable(ge=1, le=10_000_000)
    relay: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Pin the sender to a configured relay by name (an unknown name is a 422 that "
        "lists the names), or null for every relay in turn. While a pinned relay is down, the "
        "sender's mail waits for it (temporary failures, retried) rather than taking another.",
    )
    postal_address: str | None = Field(None, min_length=1, max_length=500)
    transactional_rate_limited: StrictBool = omittable()


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
    rate_per_minute: int = Field(description="Requests a minute this key may make.")
    can_manage_keys: bool = Field(description="Whether this key may create the sender's keys.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyIn(Strict):
    """A new key of the calling key's sender. Only a key that may manage keys creates one, and
    never with a higher rate limit than its own."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"name": "shop backend", "rate_per_minute": 300}],
        },
    }
    name: str = Field("", max_length=100, pattern=r"^[^\x00\r\n]*$")
    rate_per_minute: int | None = Field(
        None,
        ge=API_KEY_RATE_MIN,
        le=API_KEY_RATE_MAX,
        description=f"Requests a minute; at most the calling key's own. Default "
        f"{API_KEY_RATE_DEFAULT}, or the calling key's own limit if that is lower.",
    )
    can_manage_keys: StrictBool = Field(
        False, description="Whether the new key may create keys too."
    )


class ApiKeyCreated(ApiKeyInfo):
    """A key as created: the key itself is in this answer only, never again."""

    key: str = Field(description="The key: store it now, it cannot be shown again.")


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
    proxy: str | None = Field(
        description="A human open fetched through this mail provider's image proxy "
        "(google_image_proxy, yahoo_image_proxy)."
    )


class Report(BaseModel):
    id: int
    send_id: int | None = None
    subscriber_id: int | None = None
    kind: str
    source: Literal["inbound", "smtp"] = Field(
        description="smtp: the relay's reply while sending; inbound: a report that came back."
    )
    recipient: str | None
    hard_or_soft: str | None = Field(
        description="hard: the address itself can never take mail; soft: anything else."
    )
    permanent: bool | None = Field(
        description="The failure is final (5xx, Action: failed); false for a delay notice."
    )
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
    open_count: int | None = Field(
        description="Human opens; null for a sender with anonymous tracking (counted in the "
        "statistics only)."
    )
    view_count: int | None
    click_count: int | None


class SendDetail(Send):
    events: list[Event]
    reports: list[Report]


class Counts(BaseModel):
    """Sends and what their recipients did. Opens and clicks are human: machine ones (Apple Mail
    prefetches, link scanners) are counted apart, unless ``machine_events=include`` adds them."""

    total: int
    pending: int
    sent: int
    failed: int
    cancelled: int
    opened: int = Field(description="Sends opened at least once, or clicked (a click proves it).")
    opens: int
    proxied_opened: int = Field(
        description="Of the opened sends, those opened through Gmail's or Yahoo's image proxy."
    )
    proxied_opens: int = Field(description="Of the opens, those through an image proxy.")
    machine_opens: int = Field(description="Opens flagged machine (Apple Mail prefetches).")
    viewed: int
    clicked: int = Field(description="Sends with at least one human click (unique clicks).")
    clicks: int
    machine_clicks: int = Field(description="Clicks flagged machine (link scanners).")
    unsubscribed: int
    bounced: int
    complained: int


class VariationCounts(Counts):
    variation_id: int | None


class LocaleCounts(Counts):
    locale: str


class DayCounts(Counts):
    day: date | None = Field(description="UTC day sent; null for sends not sent yet.")


class LinkCounts(BaseModel):
    variation_id: int | None = Field(description="Null: the variation was deleted.")
    link_index: int | None = Field(
        description="n of /c/<token>/<n>; null for /c/<token>, the email's redirect_url."
    )
    url: str | None = Field(description="The link's target; null when no longer known.")
    personalised: bool = Field(
        description="The target depends on the subscriber; url is the one for a subscriber "
        "without properties."
    )
    clicks: int = Field(description="Human clicks.")
    clickers: int | None = Field(
        description="Sends with a human click on this link; null when clicks were recorded "
        "anonymously."
    )
    machine_clicks: int = Field(description="Clicks flagged machine (link scanners).")


class AbArm(BaseModel):
    variation_id: int
    name: str | None
    sent: int = Field(description="Test-share sends that went out.")
    converted: int = Field(description="Of those, sends opened or clicked (by the metric).")
    rate: float


class AbTestResult(BaseModel):
    """The A/B test of the email's latest A/B campaign (shared/campaigns/abtest.py)."""

    campaign_id: int
    state: str
    decided: bool = Field(description="False: the test runs; the decision is what it would be now.")
    outcome: Literal["winner", "no_clear_winner", "insufficient_sample"]
    variation_id: int = Field(
        description="The variation the rest of the audience gets: the winner, or the default."
    )
    default_variation_id: int | None = Field(
        None, description="The first active variation, kept when the test cannot tell."
    )
    leader_id: int | None = None
    runner_up_id: int | None = None
    metric: Literal["open", "click"] | None = None
    min_sends: int | None = Field(None, description="Sends each variation needs at least.")
    confidence: float | None = None
    margin_pp: float | None = Field(
        None, description="Leader's rate minus the runner-up's, in percentage points."
    )
    ci_low_pp: float | None = None
    ci_high_pp: float | None = None
    reason: str
    variations: list[AbArm] = Field(default_factory=list)


class Statistics(BaseModel):
    email_id: int
    machine_events: Literal["include", "exclude"]
    total: Counts
    variations: list[VariationCounts]
    locales: list[LocaleCounts]
    days: list[DayCounts]
    links: list[LinkCounts]
    ab_test: AbTestResult | None


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
