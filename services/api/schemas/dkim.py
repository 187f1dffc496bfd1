"""DKIM key models: never the private key, which stays in the database for the workers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.api.schemas.common import Strict

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]


class DkimKey(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": 4,
                    "selector": "tart2026b",
                    "algorithm": "ed25519-sha256",
                    "state": "next",
                    "dns_name": "tart2026b._domainkey.example.com",
                    "dns_value": "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlr=",
                    "created_at": "2026-12-01T10:00:00Z",
                    "activated_at": None,
                    "retired_at": None,
                }
            ]
        }
    }
    id: int
    selector: str
    algorithm: Algorithm
    state: Literal["next", "active", "retired"] = Field(
        description="next: published but not signing yet; active: signs every message (one key "
        "per algorithm); retired: signs nothing, keep its record while mail it signed is read."
    )
    dns_name: str = Field(description="Where to publish the TXT record.")
    dns_value: str = Field(description="The TXT record: the public key.")
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None


class DkimKeyList(BaseModel):
    items: list[DkimKey]


class DkimKeyCreate(Strict):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"selector": "tart2026b", "algorithm": "ed25519-sha256"}]
        },
    }
    selector: str = Field(
        min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="A name not used before by this sender: its TXT record must not change.",
    )  # fmt: skip
    algorithm: Algorithm = "rsa-sha256"
    private_key: str | None = Field(
        None,
        max_length=20_000,
        description="A PEM private key to import (RSA of 1024 bits or more, or Ed25519); left "
        "out, a new key is generated (RSA 2048 or Ed25519). Never returned.",
    )
