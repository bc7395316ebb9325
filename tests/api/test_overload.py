"""Load shedding: past KOE_MAX_IN_FLIGHT requests in progress, the next ones get 503 at once, not a queue."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.api.limits import InFlightLimit


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn's loop


class SlowApp:
    """Holds every request until released, so that the test controls how many are in flight."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.anyio
async def test_requests_past_the_limit_are_shed_at_once_and_health_never() -> None:
    inner = SlowApp()
    limited = InFlightLimit(inner, max_in_flight=3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://koe") as client:
        held = [asyncio.create_task(client.post("/v1/feedback", json={})) for _ in range(3)]
        while inner.entered < 3:
            await asyncio.sleep(0.001)
        shed = await asyncio.wait_for(client.post("/v1/feedback", json={}), timeout=2)
        assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
        assert shed.headers["content-type"] == "application/problem+json" and shed.json()["code"] == "overloaded"
        health = asyncio.create_task(client.get("/healthz"))  # exempt: admitted although 3 are in flight
        while inner.entered < 4:
            await asyncio.sleep(0.001)
        inner.release.set()
        assert [r.status_code for r in await asyncio.gather(*held, health)] == [200, 200, 200, 200]
        assert (await client.get("/v1/feedback")).status_code == 200  # capacity is given back
        assert limited.in_flight == 0


@pytest.mark.anyio
async def test_zero_means_no_limit() -> None:
    inner = SlowApp()
    inner.release.set()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=InFlightLimit(inner, 0)), base_url="http://k") as c:
        assert [r.status_code for r in await asyncio.gather(*(c.get("/") for _ in range(20)))] == [200] * 20
