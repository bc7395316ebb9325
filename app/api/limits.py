"""Request body size limits, enforced while the body streams in (413 as problem+json), never by buffering it."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.logging import request_id


def _too_large(limit: int) -> bytes:
    return json.dumps(
        {
            "type": "https://koe.dev/problems/payload_too_large",
            "title": "Payload too large",
            "status": 413,
            "detail": f"the request body is larger than {limit:,} bytes",
            "code": "payload_too_large",
            "request_id": request_id.get(),
        }
    ).encode()


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
        body = _too_large(limit)
        metrics.problem("payload_too_large", 413)
        headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
