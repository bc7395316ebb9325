"""Request ids, access logs and HTTP metrics: a pure ASGI middleware, so streamed responses stream untouched."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.logging import request_id

log = logging.getLogger("koe.access")
HEADER = b"x-request-id"
# A caller's id is kept when it is a plain token (ids of load balancers and tracers are); anything else, or
# anything longer, could smuggle text into log lines and headers, and is replaced by a fresh one.
SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=@/+-]{0,127}")


def incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            text = value.decode("latin-1")
            return text if SANE_ID.fullmatch(text) else None
    return None


def route_template(scope: Scope) -> str:
    """The matched route's path format (/v1/feedback/{feedback_id}), never the raw path: bounded label values."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or metrics.UNMATCHED


class RequestContext:
    """Takes X-Request-ID from the request (or makes one), echoes it, logs one access line and counts the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_id(scope) or uuid.uuid4().hex
        # Each request runs in its own task, with its own copy of the context: nothing to reset afterwards, and
        # the id stays set for the 500 handler, which runs outside this middleware.
        request_id.set(rid)
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        route, method, ms = route_template(scope), scope["method"], round(seconds * 1000, 2)
        metrics.observe_request(method, route, status, seconds)
        fields = {"method": method, "path": scope["path"], "route": route, "status": status, "duration_ms": ms}
        log.log(
            logging.WARNING if status >= 500 else logging.INFO,
            "%s %s %s %.1f ms",
            method,
            scope["path"],
            status,
            ms,
            extra=fields,
        )
