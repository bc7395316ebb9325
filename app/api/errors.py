"""The one place that turns errors into RFC 9457 application/problem+json responses."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException

from app.core import metrics
from app.core.errors import DomainError
from app.core.logging import request_id

log = logging.getLogger("koe.api")
PROBLEM = "application/problem+json"
# The database cannot be reached: refused or dropped connections (OperationalError, InterfaceError), a full pool
# (TimeoutError). Integrity and programming errors are bugs or bad data, and stay 500s.
DATABASE_DOWN = (sa.OperationalError, sa.InterfaceError, sa.TimeoutError)
_TEXT = {"type": "string"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details, with a stable `code` and a JSON pointer per bad field or row",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": _TEXT,
        "title": _TEXT,
        "status": {"type": "integer"},
        "detail": _TEXT,
        "code": _TEXT,
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail", "code"],
                "properties": {"pointer": _TEXT, "detail": _TEXT, "code": _TEXT},
            },
        },
        "request_id": {"type": ["string", "null"]},
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error answers, documented as what they are: application/problem+json."""
    return {
        status: {"description": HTTPStatus(status).phrase, "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}
        for status in statuses
    }


# What any /v1 route may answer besides its success: an unparsable body, auth, scope, missing id, body size,
# validation, rate limit, database down.
V1_PROBLEMS = problem_responses(400, 401, 403, 404, 413, 422, 429, 503)


def problem(
    status: int,
    title: str,
    detail: str,
    code: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://koe.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    if rid := request_id.get():
        body["request_id"] = rid  # what a caller quotes to support; the same id is in the logs
        headers = {**(headers or {}), "X-Request-ID": rid}  # the 500 handler runs outside RequestContext
    metrics.problem(code, status)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _pointer(loc: tuple[Any, ...]) -> str:
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    return "/" + "/".join(str(p) for p in parts)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors():
        loc = tuple(e.get("loc", ()))
        message = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "extra_forbidden":
            message = f"unknown field {loc[-1]!r}"
        out.append({"pointer": _pointer(loc), "detail": message, "code": e.get("type", "invalid")})
    return out


async def _on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = _validation_errors(exc)
    fields = ", ".join(e["pointer"] for e in errors[:5])
    return problem(
        422,
        "Invalid request",
        f"{len(errors)} problem(s) in the request: {fields}",
        "validation_error",
        errors,
    )


async def _on_domain(_: Request, exc: DomainError) -> JSONResponse:
    return problem(
        exc.status, exc.title, exc.detail, exc.code, [e.as_dict() for e in exc.errors], headers=exc.headers or None
    )


async def _on_http(_: Request, exc: HTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code, "http_error")
    return problem(exc.status_code, str(exc.detail), str(exc.detail), code, headers=getattr(exc, "headers", None))


async def _on_database_down(_: Request, exc: Exception) -> JSONResponse:
    # The driver's message only: str(exc) would add the SQL statement, and its parameters may be feedback text.
    cause = getattr(exc, "orig", None) or exc
    log.warning("database unavailable: %s: %s", type(cause).__name__, next(iter(str(cause).splitlines()), ""))
    return problem(
        503,
        "Service unavailable",
        "the database cannot be reached; retry later (a retried POST /v1/feedback never stores an item twice)",
        "database_unavailable",
        headers={"Retry-After": "5"},
    )


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "Internal server error", "an unexpected error occurred; it has been logged", "internal_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(DomainError, _on_domain)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http)  # type: ignore[arg-type]
    for error in DATABASE_DOWN:
        app.add_exception_handler(error, _on_database_down)
    app.add_exception_handler(Exception, _on_unexpected)
