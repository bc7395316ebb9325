"""Rate limit per key (per client IP without one): token buckets in memory and in the real Redis."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.ratelimit import MemoryBuckets, RedisBuckets, build_buckets
from app.core.config import Settings
from tests.factories import api_key, v1_operations

REDIS_URL = os.environ.get("KOE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_per_second": 0.5, "rate_limit_burst": 2})


@pytest.fixture
def limited(client: TestClient, settings: Settings, store: str) -> TestClient:
    """The client, its buckets in memory or in Redis under a namespace of this test's own."""
    if store == "redis":
        buckets = RedisBuckets(redis.Redis.from_url(REDIS_URL), 0.5, 2, namespace=f"koe-test:{uuid.uuid4().hex}")
        client.app.state.rate_limiter = buckets  # type: ignore[attr-defined]
    return client


def test_past_the_burst_is_429_with_retry_after(limited: TestClient) -> None:
    assert [limited.get("/v1/taxonomy").status_code for _ in range(2)] == [200, 200]
    response = limited.get("/v1/taxonomy")
    assert response.status_code == 429 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) == 2  # one token at 0.5/s


def test_each_key_has_its_own_bucket_and_health_is_exempt(limited: TestClient, session: Session) -> None:
    first, second = api_key(session, "acme"), api_key(session, "acme")
    assert [limited.get("/v1/feedback", headers=first).status_code for _ in range(3)] == [200, 200, 429]
    assert limited.get("/v1/feedback", headers=second).status_code == 200
    assert limited.get("/v1/feedback").status_code == 200  # no key: the client IP's bucket
    assert all(limited.get("/healthz").status_code == 200 for _ in range(5))


def test_every_v1_operation_is_rate_limited(client: TestClient, session: Session) -> None:
    """The limit is taken by each route's scope check (app.api.deps.require_scope): fails for a /v1 route that
    declares none. Each operation gets a key of its own, so each has a fresh bucket of 2."""
    client.app.state.rate_limiter = MemoryBuckets(rate=0.001, burst=2)  # type: ignore[attr-defined]
    for method, path in v1_operations(client):
        headers = api_key(session, "acme", "admin")
        answers = [client.request(method, path, headers=headers).status_code for _ in range(3)]
        assert answers[-1] == 429 and 429 not in answers[:2], f"{method} {path}: {answers}"


def test_memory_bucket_refills_at_the_rate() -> None:
    now = [100.0]
    buckets = MemoryBuckets(rate=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert buckets.take("k") == 0.0 and buckets.take("other") == 0.0
    now[0] += 60
    assert [buckets.take("k") for _ in range(4)][-1] == pytest.approx(0.5)  # refilled to the burst, not beyond


def test_redis_bucket_refills_and_is_shared_by_replicas() -> None:
    namespace = f"koe-test:{uuid.uuid4().hex}"
    one, other = (RedisBuckets(redis.Redis.from_url(REDIS_URL), 5.0, 2, namespace=namespace) for _ in range(2))
    assert (one.take("k"), other.take("k")) == (0.0, 0.0)
    assert 0 < one.take("k") <= 0.2
    time.sleep(0.3)
    assert other.take("k") == 0.0


def test_unreachable_redis_lets_requests_pass() -> None:
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    assert RedisBuckets(dead, 1.0, 1).take("k") == 0.0


def test_where_the_buckets_live() -> None:
    assert build_buckets(Settings(rate_limit_per_second=0)) is None
    assert isinstance(build_buckets(Settings()), MemoryBuckets)
    assert isinstance(build_buckets(Settings(broker_url="redis://127.0.0.1:6379/0")), RedisBuckets)
    assert isinstance(build_buckets(Settings(redis_url=REDIS_URL)), RedisBuckets)
    assert Settings(broker_url="amqp://guest@localhost//").rate_limit_redis_url is None
