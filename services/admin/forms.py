"""Reading admin forms without ever answering a 500 or a 422: each field is read as text, checked,
and its error kept beside it for the template to show inline."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import FormData

MAX_FIELD_CHARS = 2_000_000


@dataclass
class Form:
    """Submitted values (as text) and the error of each field that failed a check."""

    data: FormData
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, *, required: bool = False, max_len: int = 1000) -> str:
        raw = self.data.get(name)
        value = raw.strip() if isinstance(raw, str) else ""
        self.values[name] = value
        if required and not value:
            self.errors[name] = "required"
        elif len(value) > max_len:
            self.errors[name] = f"at most {max_len} characters"
        elif "\x00" in value:
            self.errors[name] = "contains a NUL character"
        return value

    def raw(self, name: str, *, max_len: int = MAX_FIELD_CHARS) -> str:
        """A body field kept as typed (no strip); CRLF becomes LF as in every text area."""
        raw = self.data.get(name)
        value = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
        self.values[name] = value
        if len(value) > max_len:
            self.errors[name] = f"at most {max_len} characters"
        elif "\x00" in value:
            self.errors[name] = "contains a NUL character"
        return value

    def line(self, name: str, *, required: bool = False, max_len: int = 300) -> str:
        """One line of text: CR and LF are refused (they would break a header)."""
        value = self.text(name, required=required, max_len=max_len)
        if name not in self.errors and any(c in value for c in "\r\n"):
            self.errors[name] = "must be one line"
        return value

    def integer(
        self, name: str, *, required: bool = False, minimum: int = 0, maximum: int = 2**31 - 1
    ) -> int | None:
        value = self.text(name, required=required, max_len=20)
        if not value or name in self.errors:
            return None
        try:
            number = int(value)
        except ValueError:
            self.errors[name] = "must be a whole number"
            return None
        if not minimum <= number <= maximum:
            self.errors[name] = f"must be between {minimum} and {maximum}"
            return None
        return number

    def checkbox(self, name: str) -> bool:
        checked = self.data.get(name) in ("on", "true", "1")
        self.values[name] = "on" if checked else ""
        return checked

    def choice(self, name: str, choices: tuple[str, ...], *, default: str = "") -> str:
        value = self.text(name) or default
        if value not in choices:
            self.errors[name] = "choose one of: " + ", ".join(choices)
        self.values[name] = value
        return value

    def many(self, name: str) -> list[str]:
        return [v.strip() for v in self.data.getlist(name) if isinstance(v, str) and v.strip()]

    @property
    def ok(self) -> bool:
        return not self.errors


async def read_form(request: Request) -> Form:
    return Form(await request.form())
