"""Every way a request can fail, rendered as ``{"error": "<Type>", "detail": "..."}``.

FastAPI's own validation errors, Starlette's 404/405 and the database's refusals of what a client
sent are all mapped here, in one place, so a client error is never a 500.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import errors as pg
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.errors import BrokerUnavailable
from shared.logging import get_logger

log = get_logger(__name__)


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"error": "NotFound", "detail": "no such subscriber"}}
    )
    error: str = Field(description="Error type, e.g. NotFound, ValidationError, Conflict.")
    detail: str = Field(description="What went wrong, for a human.")


def _error(status: int, kind: str, detail: str, headers: dict[str, str] | None = None) -> Any:
    return JSONResponse({"error": kind, "detail": detail}, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> tuple[int, str, str]:
    parts = []
    for item in exc.errors()[:10]:
        if item.get("type") == "json_invalid":
            return 400, "BadRequest", "the body is not valid JSON"
        loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        msg = str(item.get("msg", "invalid"))
        if item.get("type") == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return 422, "ValidationError", "; ".join(parts) or "invalid request"


# Constraint names (and domains) a client can trip, with what to tell them.
CONSTRAINT_MESSAGES = {
    "email_address_check": "not a valid email address",
    "locale_check": "locale must be C or like en_US",
    "variation_has_body": "a variation needs a plain or an HTML body",
    "subscribers_sender_id_address_key": "a subscriber with this address already exists",
    "subscribers_address_check": "address must be lower case",
    "senders_public_base_url_check": "public_base_url must be an http(s) URL",
    "senders_webhook_url_check": "webhook_url must be an http(s) URL",
    "senders_name_check": "name must be non-empty, on one line",
    "emails_redirect_url_check": "redirect_url must be an http(s) URL",
    "variations_subject_check": "subject must be non-empty, on one line",
    "idempotency_keys_key_check": "Idempotency-Key must be 1 to 255 characters",
    "segments_sender_id_name_key": "a segment with this name already exists",
    "automations_sender_id_name_key": "an automation with this name already exists",
    "automation_steps_sender_id_email_id_fkey": "an automation step sends this email: "
    "change the automation first",
}


def _database_error(exc: psycopg.Error) -> tuple[int, str, str] | None:
    """The status for a database error the client caused, or None for a server fault."""
    name = getattr(exc.diag, "constraint_name", None) or ""
    message = CONSTRAINT_MESSAGES.get(name)
    if isinstance(exc, pg.UniqueViolation):
        return 409, "Conflict", message or "this already exists"
    if isinstance(exc, pg.CheckViolation | pg.NotNullViolation):
        primary = exc.diag.message_primary or "a value was refused"
        return 422, "ValidationError", message or primary
    if isinstance(exc, pg.ForeignKeyViolation):
        if message:  # a row still in use (an email sent by an automation step)
            return 409, "Conflict", message
        return 422, "ValidationError", "a referenced object does not exist"
    if isinstance(exc, pg.DataError):  # bad text (NUL), out-of-range numbers, bad JSON escapes
        return 422, "ValidationError", exc.diag.message_primary or "a value was refused"
    if isinstance(exc, psycopg.DataError):  # client-side adaptation, e.g. NUL in a string
        return 422, "ValidationError", str(exc)
    return None


def _allowed_methods(request: Request) -> str:
    """Every method the requested path serves. Starlette's 405 names only the methods of the
    first route whose path matched, but RFC 9110 wants all of the resource's. Each method is
    tried against the router through the public ``matches``, whatever the routes' nesting."""
    allowed = []
    for method in ("DELETE", "GET", "PATCH", "POST", "PUT"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; ``shared.web`` already renders ``AppError``."""

    @app.exception_handler(RequestValidationError)
    async def validation(_r: Request, exc: RequestValidationError) -> Any:
        return _error(*_describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        kinds = {404: "NotFound", 405: "MethodNotAllowed", 400: "BadRequest"}
        kind = kinds.get(exc.status_code, "HTTPError")
        detail = {404: "no such route", 405: "method not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return _error(exc.status_code, kind, detail, headers)

    @app.exception_handler(psycopg.Error)
    async def database(_r: Request, exc: psycopg.Error) -> Any:
        mapped = _database_error(exc)
        if mapped is None:
            log.error("database error", error=repr(exc))
            return _error(500, "InternalError", "internal error")
        return _error(*mapped)

    @app.exception_handler(BrokerUnavailable)
    async def broker_unavailable(_r: Request, exc: BrokerUnavailable) -> Any:
        # Raised after COMMIT, while publishing: what the request recorded stays, and the
        # scheduler's sweep queues it again. A test send records nothing: the retry sends it.
        log.error("broker unavailable", error=repr(exc.__cause__))
        detail = (
            "the message broker is unavailable: retry shortly; a retry with the same "
            "Idempotency-Key never queues twice"
        )
        return _error(503, "ServiceUnavailable", detail, {"Retry-After": "5"})

    @app.exception_handler(UnicodeEncodeError)
    async def unicode(_r: Request, _exc: UnicodeEncodeError) -> Any:
        return _error(422, "ValidationError", "text must be valid Unicode (no lone surrogates)")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Malformed request (bad JSON, bad cursor).",
        401: "No valid API key.",
        404: "No such object for this sender.",
        409: "Conflict with the object's state, or a duplicate.",
        413: "Body too large.",
        415: "Content type not supported.",
        422: "Validation failed.",
        429: "Rate limited: see Retry-After.",
        503: "The message broker is unavailable: see Retry-After.",
    }.items()
}
