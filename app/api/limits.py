"""Request limits enforced before the app: body size while the body streams in (413, never by buffering it),
and requests in flight per process (503 at once when overloaded, instead of queueing into timeouts)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.logging import request_id


async def _answer(
    send: Send, status: int, code: str, title: str, detail: str, extra: list[tuple[bytes, bytes]]
) -> None:
    """A problem+json answer sent straight from the middleware (the app never sees the request)."""
    problem = {"type": f"https://koe.dev/problems/{code}", "title": title, "status": status, "detail": detail}
    body = json.dumps({**problem, "code": code, "request_id": request_id.get()}).encode()
    metrics.problem(code, status)
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


class InFlightLimit:
    """At most `max_in_flight` requests in this process at once; past it, 503 with Retry-After at once. Under
    overload a queue only turns every request into a timeout; shedding keeps the admitted ones fast. Health and
    metrics are never shed (orchestrators must still see the process)."""

    EXEMPT = ("/healthz", "/readyz", "/metrics")

    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app, self.max_in_flight, self.in_flight = app, max_in_flight, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_in_flight <= 0 or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            detail = f"more than {self.max_in_flight} requests in progress; retry shortly"
            await _answer(send, 503, "overloaded", "Service overloaded", detail, [(b"retry-after", b"1")])
            return
        self.in_flight += 1  # one event loop per process: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class BodySizeLimit:
    """Rejects bodies over the limit of their path (uploads get a larger one): at once when Content-Length says
    so, otherwise as soon as the streamed bytes pass it; the app then sees a disconnect and stores nothing."""

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app, self.max_bytes, self.path_limits = app, max_bytes, path_limits or {}

    def limit_for(self, path: str) -> int:
        return next((v for prefix, v in self.path_limits.items() if path.startswith(prefix)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._reject(send, limit)
            return
        state = {"received": 0, "rejected": False, "started": False}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit and not state["rejected"]:
                    state["rejected"] = True
                    if not state["started"]:
                        await self._reject(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["rejected"]:
                return  # the 413 was already sent
            state["started"] = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    @staticmethod
    async def _reject(send: Send, limit: int) -> None:
        detail = f"the request body is larger than {limit:,} bytes"
        await _answer(send, 413, "payload_too_large", "Payload too large", detail, [])
