"""Application errors. One handler per web service maps them to ``{"error", "detail"}`` JSON."""

from __future__ import annotations


class AppError(Exception):
    """Base class: an error whose message is safe to show to the client."""

    status_code = 400
    error_type = "BadRequest"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    def as_dict(self) -> dict[str, str]:
        return {"error": self.error_type, "detail": self.detail}


class BadRequest(AppError):
    status_code, error_type = 400, "BadRequest"


class Unauthorized(AppError):
    status_code, error_type = 401, "Unauthorized"

    def __init__(self, detail: str = "a valid API key is required") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="tart", Basic'})


class Forbidden(AppError):
    status_code, error_type = 403, "Forbidden"


class NotFound(AppError):
    status_code, error_type = 404, "NotFound"


class Conflict(AppError):
    status_code, error_type = 409, "Conflict"


class Gone(AppError):
    status_code, error_type = 410, "Gone"


class PayloadTooLarge(AppError):
    status_code, error_type = 413, "PayloadTooLarge"


class UnsupportedMediaType(AppError):
    status_code, error_type = 415, "UnsupportedMediaType"


class Unprocessable(AppError):
    status_code, error_type = 422, "ValidationError"


class RateLimited(AppError):
    status_code, error_type = 429, "RateLimited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(AppError):
    status_code, error_type = 503, "ServiceUnavailable"


class BrokerUnavailable(ServiceUnavailable):
    """RabbitMQ did not confirm a publish (``shared.jobs``). Raised after COMMIT: what the
    request recorded stays, and the sweeps queue its work again."""

    def __init__(self, detail: str = "the message broker is unavailable: retry shortly") -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


class HeaderInjection(BadRequest):
    """A header value held CR or LF: refused so nobody can add headers to a message."""
