"""The database goes away, for real (a TCP proxy in front of PostgreSQL is cut), and comes back.

Every endpoint that needs it answers 503 problem+json with Retry-After, never a 500; /readyz says not ready;
nothing is half-written; and the service recovers by itself once the database is back."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.main import create_app
from app.services.health import DatabaseUnreachable
from tests.conftest import ROOT, alembic_config, drop_postgres_database, fresh_postgres_database
from tests.factories import REVIEW_NEGATIVE, REVIEW_POSITIVE, item
from tests.faults.proxy import TcpProxy, free_port

NAME = f"koe_faults_{os.getpid()}"

# Valid requests that must reach the database (auth is off, so the key lookup is not what touches it).
NEEDS_DATABASE = [
    ("POST", "/v1/feedback", {"items": [item(REVIEW_POSITIVE)]}),
    ("GET", "/v1/feedback", None),
    ("GET", "/v1/feedback/1", None),
    ("GET", "/v1/feedback/export?format=jsonl", None),  # a stream: its first page is read before it starts
    ("DELETE", "/v1/feedback/1", None),
    ("POST", "/v1/analyze", {"documents": [{"id": "d1", "text": REVIEW_NEGATIVE}]}),
    ("GET", "/v1/analytics/journey", None),
    ("GET", "/v1/analytics/scores", None),
    ("GET", "/v1/jobs/1", None),
    ("POST", "/v1/jobs/rescore", None),
    ("GET", "/v1/taxonomy", None),
    ("GET", "/v1/keys", None),
]


@pytest.fixture(scope="module")
def direct_url() -> Iterator[str]:
    """A fresh migrated database of its own on the shared server, dropped afterwards."""
    url = fresh_postgres_database(NAME)
    command.upgrade(alembic_config(url), "head")
    yield url
    drop_postgres_database(NAME)


@pytest.fixture(scope="module")
def direct(direct_url: str) -> Iterator[Engine]:
    """The test's own view of the database, not through the proxy: what was really stored."""
    engine = create_engine(direct_url)
    yield engine
    engine.dispose()


@pytest.fixture
def proxy(direct_url: str) -> Iterator[TcpProxy]:
    target = make_url(direct_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def client(direct_url: str, proxy: TcpProxy, tmp_path: Path) -> Iterator[TestClient]:
    via_proxy = make_url(direct_url).set(port=proxy.port).render_as_string(hide_password=False)
    settings = Settings(
        database_url=via_proxy, analyzer="rules", embedded_worker=False, auth_required=False, upload_dir=str(tmp_path)
    )
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client
    app.state.engine.dispose()


def stored(direct: Engine, source: str) -> tuple[int, int]:
    """(feedback rows, analysis rows) of `source`: an item is whole only with its analysis."""
    with direct.connect() as connection:
        feedback = connection.execute(text("SELECT count(*) FROM feedback WHERE source = :s"), {"s": source})
        analyses = connection.execute(
            text("SELECT count(*) FROM analysis a JOIN feedback f ON f.id = a.feedback_id WHERE f.source = :s"),
            {"s": source},
        )
        return int(feedback.scalar_one()), int(analyses.scalar_one())


def post(client: TestClient, source: str, **fields: Any) -> Any:
    return client.post("/v1/feedback", json={"items": [item(REVIEW_NEGATIVE, source=source, **fields)]})


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    body = response.json()
    assert body["code"] == "database_unavailable" and body["status"] == 503
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_outage_answers_503_then_recovers_without_restart(client: TestClient, proxy: TcpProxy, direct: Engine) -> None:
    source, ok = "outage", 0
    for _ in range(3):
        assert post(client, source).status_code == 201
        ok += 1
    assert proxy.connections > 0  # the app really talks through the proxy

    proxy.cut()
    assert_unavailable(post(client, source))
    assert_unavailable(post(client, source))  # the pool's dead connections do not make it a 500 either
    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz").json()["checks"]["database"]["ok"] is False
    assert client.get("/healthz").status_code == 200  # the process is alive: do not restart it

    proxy.restore()
    assert post(client, source).status_code == 201  # the first request after the outage already works
    ok += 1
    assert client.get("/readyz").status_code == 200
    assert stored(direct, source) == (ok, ok)


@pytest.mark.parametrize(("method", "path", "body"), NEEDS_DATABASE, ids=[f"{m} {p}" for m, p, _ in NEEDS_DATABASE])
def test_every_endpoint_that_needs_the_database_answers_503(
    client: TestClient, proxy: TcpProxy, method: str, path: str, body: Any
) -> None:
    proxy.cut()
    assert_unavailable(client.request(method, path, json=body))


def test_upload_during_an_outage_keeps_no_file(client: TestClient, proxy: TcpProxy, tmp_path: Path) -> None:
    proxy.cut()
    csv = "レビューID,本文\r\nR-1,配送が早くて助かりました。\r\n".encode("cp932")
    assert_unavailable(client.post("/v1/uploads", files={"file": ("reviews.csv", csv)}, data={"source": "outage"}))
    assert list(tmp_path.iterdir()) == []


def test_no_route_answers_500_while_the_database_is_away(client: TestClient, proxy: TcpProxy) -> None:
    """Every documented route, path parameters set to 1 and no body: a 4xx or a 503, never another 5xx."""
    paths = client.get("/openapi.json").json()["paths"]  # read while the database is up (it does not need it)
    proxy.cut()
    answered = {
        f"{method.upper()} {path}": client.request(method, re.sub(r"\{[^}]+\}", "1", path)).status_code
        for path, operations in paths.items()
        for method in operations
    }
    assert len(answered) > 20
    assert {k: v for k, v in answered.items() if v >= 500 and v != 503} == {}


def test_connection_lost_before_commit_stores_nothing(client: TestClient, proxy: TcpProxy, direct: Engine) -> None:
    """The rows were sent, the COMMIT never arrives: PostgreSQL rolls the whole batch back."""
    source = "lost_commit"
    event.listen(client.app.state.engine, "commit", lambda _connection: proxy.cut(), once=True)  # type: ignore[attr-defined]
    batch = {"items": [item(REVIEW_NEGATIVE, source=source, external_id=f"c-{i}") for i in range(5)]}
    assert_unavailable(client.post("/v1/feedback", json=batch))
    proxy.restore()
    assert stored(direct, source) == (0, 0)
    retried = client.post("/v1/feedback", json=batch)  # the caller's retry stores the batch, once
    assert retried.status_code == 201 and retried.json()["created"] == 5
    assert stored(direct, source) == (5, 5)


def test_startup_with_an_unreachable_database_fails_fast_and_says_why() -> None:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/koe"
    settings = Settings(database_url=dead, analyzer="rules", embedded_worker=False, auth_required=False)
    started = time.monotonic()
    unreachable = r"is unreachable \(.*refused.*\): check KOE_DATABASE_URL"
    with pytest.raises(DatabaseUnreachable, match=unreachable), TestClient(create_app(settings)):
        pass
    assert time.monotonic() - started < 10


def test_server_process_exits_with_one_clear_line_when_the_database_is_unreachable() -> None:
    env = {**os.environ, "KOE_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/koe"}
    serve = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--port", str(free_port())]
    done = subprocess.run(serve, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert '"message": "cannot start: database postgresql+psycopg://postgres@127.0.0.1:' in done.stderr
    assert "Application startup failed" in done.stderr
    assert "psycopg.OperationalError" not in done.stderr  # no chained driver traceback: the one line says it all
