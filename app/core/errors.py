"""Domain errors: raised by services, carrying a stable code; app/api/errors.py maps them to HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    pointer: str  # RFC 6901 JSON pointer into the request body, e.g. /items/3/text
    detail: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        return {"pointer": self.pointer, "detail": self.detail, "code": self.code}


@dataclass
class DomainError(Exception):
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    code: str = "error"
    status: int = 400
    title: str = "Bad request"
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail


class NotFound(DomainError):
    def __init__(self, detail: str, code: str = "not_found") -> None:
        super().__init__(detail, code=code, status=404, title="Not found")


class Invalid(DomainError):
    def __init__(self, detail: str, errors: list[FieldError] | None = None, code: str = "invalid") -> None:
        super().__init__(detail, errors or [], code=code, status=422, title="Invalid request")


class PayloadTooLarge(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="payload_too_large", status=413, title="Payload too large")


class Unavailable(DomainError):
    def __init__(self, detail: str, code: str = "unavailable") -> None:
        super().__init__(detail, code=code, status=503, title="Service unavailable")


class Unauthorized(DomainError):
    def __init__(self, detail: str, code: str = "unauthorized") -> None:
        # RFC 6750 §3: a 401 names the scheme; error="invalid_token" when a key was sent but not accepted.
        challenge = 'Bearer error="invalid_token"' if code == "invalid_api_key" else "Bearer"
        super().__init__(detail, code=code, status=401, title="Unauthorized", headers={"WWW-Authenticate": challenge})


class Forbidden(DomainError):
    def __init__(self, detail: str, code: str = "forbidden") -> None:
        super().__init__(detail, code=code, status=403, title="Forbidden")


class RateLimited(DomainError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many requests; retry in {retry_after} s",
            code="rate_limited",
            status=429,
            title="Too many requests",
            headers={"Retry-After": str(retry_after)},
        )
