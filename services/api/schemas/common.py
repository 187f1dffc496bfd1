"""Shared model pieces: strict base, address and locale types, pages."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.subscribers.validation import LOCALE_PATTERN, address_error

T = TypeVar("T")


class Strict(BaseModel):
    """Refuses unknown fields, so a typo is a 422 instead of being silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _address(value: str) -> str:
    value = value.strip().lower()
    error = address_error(value)
    if error:
        raise ValueError(error)
    return value


Address = Annotated[
    str,
    StringConstraints(min_length=3, max_length=254),
    AfterValidator(_address),
    Field(examples=["ada@example.com"], description="Email address (stored lower-case)."),
]
Locale = Annotated[
    str, Field(pattern=LOCALE_PATTERN, examples=["en_US"], description="C, or like en_US.")
]
# Text stored in PostgreSQL: no NUL characters.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]
OneLine = Annotated[str, Field(min_length=1, max_length=998, pattern=r"^[^\x00\r\n]+$")]
HttpUrl = Annotated[str, Field(max_length=2000, pattern=r"^https?://[^\s\x00]+$")]
Properties = Annotated[
    dict[str, Any],
    Field(
        description="Free-form JSON object (max 64 KiB serialised).",
        examples=[{"first_name": "Ada", "plan": "pro"}],
    ),
]


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = Field(description="null on the last page.")
