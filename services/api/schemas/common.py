"""Shared model pieces: strict base, address and locale types, pages."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from shared.subscribers.validation import ADDRESS_PATTERN, LOCALE_PATTERN, address_error

T = TypeVar("T")


def omittable(**constraints: Any) -> Any:
    """A field a PATCH may leave out but never set to null, because the column has no empty
    state. Its type admits no null, so a null is a validation error like any other wrong type;
    ``Strict`` keeps the placeholder default out of the schema. Handlers read only
    ``model_fields_set``, never an absent field's placeholder."""
    return Field(None, **constraints)


class Strict(BaseModel):
    """Refuses unknown fields, so a typo is a 422 instead of being silently ignored. Request
    booleans are ``StrictBool``: ``0`` or ``"no"`` is refused, not read as ``false``. Integers
    stay lax, because JSON Schema counts ``1.0`` as an integer."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        for field in schema.get("properties", {}).values():
            if "default" in field and field["default"] is None and "anyOf" not in field:
                del field["default"]  # an omittable() field: null is not a value it takes
        return schema


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
    # The pattern is documented, not enforced here: _address strips spaces before it checks.
    Field(
        examples=["ada@example.com"],
        description="Email address (stored lower-case).",
        json_schema_extra={"pattern": ADDRESS_PATTERN},
    ),
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
