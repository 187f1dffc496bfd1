"""Saved segments as the API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from services.api.schemas.common import Strict, omittable

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\r\n\x00]+$")]
FilterIn = Annotated[
    str | dict[str, Any],
    Field(description="The filter language, text or JSON form; may name other segments."),
]


class SegmentIn(Strict):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"name": "engaged pros", "filter": 'plan = "pro" and opened within 30 days'}
            ]
        },
    }
    name: Name
    filter: FilterIn


class SegmentPatch(Strict):
    name: Name = omittable()
    filter: FilterIn = omittable()


class Segment(BaseModel):
    id: int
    name: str
    filter: dict[str, Any] = Field(description="The JSON form of the filter.")
    created_at: datetime
    updated_at: datetime
    count: int | None = Field(
        None, description="Active subscribers who match now (single segment reads only)."
    )


class SegmentCount(BaseModel):
    count: int = Field(description="Active subscribers who match now.")
