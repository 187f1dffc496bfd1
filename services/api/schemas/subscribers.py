"""Subscriber models."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, field_validator

from services.api.schemas.common import Address, Locale, Properties, Strict

MAX_PROPERTIES_BYTES = 64 * 1024


def _check_properties(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    encoded = json.dumps(value, ensure_ascii=False)
    if len(encoded.encode()) > MAX_PROPERTIES_BYTES:
        raise ValueError("properties are over 64 KiB")
    if "\\u0000" in encoded or "\x00" in encoded:
        raise ValueError("properties cannot contain NUL characters")
    return value


class SubscriberIn(Strict):
    """A subscriber to create, or to create-or-replace (PUT) by address."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"address": "ada@example.com", "locale": "en_US", "properties": {"plan": "pro"}}
            ]
        },
    }
    address: Address
    locale: Locale = "C"
    properties: Properties = Field(default_factory=dict)

    _props = field_validator("properties")(_check_properties)


class SubscriberCreateIn(SubscriberIn):
    """A subscriber to create. With ``double_opt_in`` it starts ``pending`` and is mailed a
    confirmation link; it joins bulk sends only once it has confirmed."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"address": "ada@example.com", "locale": "en_US", "double_opt_in": True}]
        },
    }
    double_opt_in: StrictBool = Field(
        False, description="Start pending and mail a confirmation link (double opt-in)."
    )


class SubscriberPatch(Strict):
    """Changes to a subscriber: omitted fields stay. ``properties`` replaces them all;
    ``merge_properties`` sets the given keys (a null value removes a key)."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"merge_properties": {"plan": "free"}}]},
    }
    locale: Locale | None = None
    properties: Properties | None = None
    merge_properties: Properties | None = None
    state: Literal["active", "unsubscribed"] | None = Field(
        None, description="Resubscribe or unsubscribe; bounced/complained are set by the system."
    )

    _props = field_validator("properties", "merge_properties")(_check_properties)


class Subscriber(BaseModel):
    id: int
    address: str
    locale: str
    properties: dict[str, Any]
    state: Literal["pending", "active", "unsubscribed", "bounced", "complained"] = Field(
        description="pending: waits for its double opt-in confirmation (never in a bulk send)."
    )
    soft_bounces: int = Field(
        description="Sends that soft-bounced for good since the subscriber last became active; "
        "the sender's soft_bounce_limit of them within soft_bounce_window stops it."
    )
    created_at: datetime
    updated_at: datetime
    state_changed_at: datetime


class BulkUpsertIn(Strict):
    """Up to 10,000 subscribers, created or replaced by address in one statement."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"subscribers": [{"address": "ada@example.com", "locale": "en_US"}]}]
        },
    }
    subscribers: list[SubscriberIn] = Field(min_length=1, max_length=10_000)


class BulkUpsertOut(BaseModel):
    created: int
    updated: int


class ImportError_(BaseModel):
    line: int | None
    error: str


class ImportJob(BaseModel):
    id: int
    state: Literal["running", "finished", "failed"]
    total_rows: int
    imported_rows: int
    error_rows: int
    errors: list[ImportError_] = Field(description="The first 100 rows that failed.")
    created_at: datetime
    finished_at: datetime | None
