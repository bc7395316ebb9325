"""Rate limit per API key (per client IP without one): a token bucket in process memory, or in Redis when
API replicas must share it. Past the limit: 429 problem+json with Retry-After."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis
from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from app.core.config import Settings
from app.core.errors import RateLimited
from app.services.keys import Principal

log = logging.getLogger("koe.api")


class Buckets(Protocol):
    blocking: bool  # whether take() waits on the network (then it runs in the thread pool)

    def take(self, key: str) -> float:
        """Take one token from `key`'s bucket: 0.0 when granted, else the seconds until one is available."""
        ...


class MemoryBuckets:
    """Buckets in this process: exact with one API process; with N replicas a client may get up to N× the rate."""

    MAX_KEYS = 100_000
    blocking = False

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, when counted)
        self._lock = threading.Lock()  # taken on the event loop today; a lock keeps it safe from any thread

    def take(self, key: str) -> float:
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            granted = tokens >= 1
            self._buckets[key] = (tokens - 1 if granted else tokens, now)
            if len(self._buckets) > self.MAX_KEYS:
                self._forget_full(now)
        return 0.0 if granted else (1 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: forgetting them changes nothing, and memory stays bounded."""
        refill = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}


# One round trip, atomic: read, refill, take, write. Redis's clock, so that replicas' clocks never disagree.
TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisBuckets:
    """Buckets shared by every API replica. If Redis is unreachable requests pass (logged): an outage of the
    limiter must not become an outage of the API."""

    blocking = True

    def __init__(self, client: redis.Redis, rate: float, burst: int, namespace: str = "koe:ratelimit") -> None:
        self.rate, self.burst, self.namespace = rate, burst, namespace
        self.script = client.register_script(TAKE)

    def take(self, key: str) -> float:
        try:
            return float(self.script(keys=[f"{self.namespace}:{key}"], args=[self.rate, self.burst]))
        except redis.RedisError as exc:
            log.warning("rate limit not applied, Redis unreachable: %s", exc)
            return 0.0


def build_buckets(settings: Settings) -> Buckets | None:
    """The buckets the settings ask for; None when the rate limit is off."""
    rate, burst = settings.rate_limit_per_second, settings.rate_limit_burst
    if rate <= 0:
        return None
    url = settings.rate_limit_redis_url
    if url:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return RedisBuckets(client, rate, burst)
    return MemoryBuckets(rate, burst)


async def rate_limit(request: Request, principal: Principal) -> None:
    """Count the request against its key's bucket, or its client IP's when it sent no key (called by every
    route's scope check, app.api.deps.require_scope)."""
    buckets: Buckets | None = request.app.state.rate_limiter
    if buckets is None:
        return
    who = f"key:{principal.key_id}" if principal.key_id is not None else f"ip:{request.client and request.client.host}"
    wait = await run_in_threadpool(buckets.take, who) if buckets.blocking else buckets.take(who)
    if wait > 0:
        raise RateLimited(retry_after=max(1, math.ceil(wait)))
