"""The API process dies (SIGKILL) or is asked to stop (SIGTERM) in the middle of work, for real: a uvicorn
server with its embedded worker, and `koe worker`. Nothing is lost and nothing is stored twice: each test
compares the count and a checksum of the stored texts with its input."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from alembic import command
from sqlalchemy import Engine

from app.core.config import Settings
from app.db.session import make_engine, session_factory
from app.services import uploads
from tests.conftest import BACKENDS, alembic_config, database_url, drop_postgres_database
from tests.faults.running import (
    CHUNK_ROWS,
    Server,
    assert_stored_once,
    job,
    koe_env,
    review_csv,
    review_texts,
    stored_texts,
    wait_for_job,
    worker,
)

ROWS = 1_500  # 30 chunks: the faults below strike after 300 rows, well before the end
BATCH = 1_000  # the largest POST /v1/feedback (KOE_MAX_BATCH_ITEMS)
BROKER = "redis://127.0.0.1:6379/14"


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A fresh migrated database of the backend given by the test's parameter, and the test's own engine on it."""
    url = database_url(request.param, tmp_path, "koe_processes_test")
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    yield url, engine
    engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(str(engine.url.database))


def upload(server: Server, texts: list[str], source: str) -> int:
    files = {"file": ("reviews.csv", review_csv(texts))}
    response = httpx.post(f"{server.base}/v1/uploads", files=files, data={"source": source}, timeout=30)
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


def batch(texts: list[str], source: str) -> dict[str, Any]:
    return {
        "items": [
            {"source": source, "external_id": f"{source}-{i}", "channel": "review", "text": text}
            for i, text in enumerate(texts)
        ]
    }


def post_batch(server: Server, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base}/v1/feedback", json=body, timeout=60)


def batch_seconds(server: Server) -> float:
    """How long this server takes over a full batch now (a warm-up of its own source): when to strike."""
    started = time.monotonic()
    assert post_batch(server, batch(review_texts("warmup", BATCH), "warmup")).status_code == 201
    return time.monotonic() - started


def post_in_thread(server: Server, body: dict[str, Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """POST the batch from a client thread; the outcome gets `response` and `answered_at`, or `error`."""
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["response"] = post_batch(server, body)
            outcome["answered_at"] = time.monotonic()
        except httpx.TransportError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=send, name="batch-client")
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_server_killed_mid_upload_is_resumed_exactly_once(database: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = database
    texts = review_texts("kill_upload", ROWS)
    server = Server(koe_env(url, tmp_path, KOE_JOB_STALE_SECONDS="5"), tmp_path / "server.log")
    try:
        job_id = upload(server.start(), texts, "kill_upload")
        wait_for_job(engine, job_id, 60, rows_done=300)
        server.signal(signal.SIGKILL)
        server.wait(10)
        killed = job(engine, job_id)
        assert killed.status == "running" and 300 <= killed.rows_done < ROWS  # orphaned halfway

        server.start()  # its embedded worker takes the job over once the dead one's heartbeat is 5 s stale
        done = wait_for_job(engine, job_id, 60)
        assert (done.status, done.rows_done, done.created, done.rows_failed) == ("succeeded", ROWS, ROWS, 0)
        assert_stored_once(engine, "kill_upload", texts)
    finally:
        server.close()


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_server_killed_mid_batch_then_resent_stores_it_once(database: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = database
    texts = review_texts("kill_batch", BATCH)
    body = batch(texts, "kill_batch")
    server = Server(koe_env(url, tmp_path), tmp_path / "server.log")
    try:
        strike = batch_seconds(server.start()) * 0.4
        thread, outcome = post_in_thread(server, body)
        time.sleep(strike)
        server.signal(signal.SIGKILL)
        server.wait(10)
        thread.join(30)
        assert isinstance(outcome.get("error"), httpx.TransportError), outcome  # killed before it answered
        before = len(stored_texts(engine, "kill_batch"))
        assert before in (0, BATCH)  # a batch is one transaction: all or nothing, never part of it

        server.start()
        resent = post_batch(server, body)  # what a client does after a failed request: send it again, as is
        assert resent.status_code in (200, 201), resent.text
        assert (resent.json()["created"], resent.json()["unchanged"]) == (BATCH - before, before)
        assert_stored_once(engine, "kill_batch", texts)
    finally:
        server.close()


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_sigterm_lets_the_request_in_flight_finish(database: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = database
    texts = review_texts("term_batch", BATCH)
    server = Server(koe_env(url, tmp_path), tmp_path / "server.log")
    try:
        strike = batch_seconds(server.start()) * 0.4
        thread, outcome = post_in_thread(server, batch(texts, "term_batch"))
        time.sleep(strike)
        terminated_at = server.signal(signal.SIGTERM)
        thread.join(60)
        assert "response" in outcome, outcome
        assert outcome["response"].status_code == 201 and outcome["response"].json()["created"] == BATCH
        assert outcome["answered_at"] > terminated_at  # it was still being processed when SIGTERM came
        assert_stopped_gracefully(server)
        assert_stored_once(engine, "term_batch", texts)
    finally:
        server.close()


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_sigterm_checkpoints_the_running_job_and_a_restart_resumes_it(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    texts = review_texts("term_upload", ROWS)
    # Staleness is far away: a resume before it can only come from the stopped worker releasing the job.
    server = Server(koe_env(url, tmp_path, KOE_JOB_STALE_SECONDS="600"), tmp_path / "server.log")
    try:
        job_id = upload(server.start(), texts, "term_upload")
        wait_for_job(engine, job_id, 60, rows_done=300)
        terminated_at = server.signal(signal.SIGTERM)
        assert_stopped_gracefully(server)
        assert time.monotonic() - terminated_at < 10  # the chunk in flight, not the rest of the file
        assert_released(engine, job_id, "term_upload")

        server.start()
        done = wait_for_job(engine, job_id, 30)
        assert (done.status, done.rows_done, done.created, done.rows_failed) == ("succeeded", ROWS, ROWS, 0)
        assert_stored_once(engine, "term_upload", texts)
    finally:
        server.close()


def assert_stopped_gracefully(server: Server) -> None:
    """Exited by itself, after its shutdown ran (uvicorn re-raises the SIGTERM it handled: status -15)."""
    assert server.wait(15) in (0, -signal.SIGTERM), server.output()
    assert "Application shutdown complete." in server.output()


def assert_released(engine: Engine, job_id: int, source: str) -> None:
    """Queued again at its checkpoint, holding whole chunks only: what it counts is exactly what is stored."""
    released = job(engine, job_id)
    assert (released.status, released.worker, released.error) == ("queued", None, None)
    assert 300 <= released.rows_done < ROWS and released.rows_done % CHUNK_ROWS == 0
    assert len(stored_texts(engine, source)) == released.created == released.rows_done


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
@pytest.mark.parametrize("mode", ["database", "celery"])
def test_sigterm_to_koe_worker_releases_its_job(database: tuple[str, Engine], mode: str, tmp_path: Path) -> None:
    """`koe worker` polling the database, or taking jobs from Celery: SIGTERM ends it after the chunk in flight,
    and the next worker resumes the job at once."""
    url, engine = database
    texts = review_texts("term_worker", ROWS)
    job_id = queued_upload(url, texts, "term_worker", tmp_path)
    env = koe_env(url, tmp_path, KOE_JOB_STALE_SECONDS="600")
    if mode == "celery":
        redis.Redis.from_url(BROKER).flushdb()  # a broker database of this test's own
        env["KOE_BROKER_URL"] = BROKER  # a starting Celery worker sweeps the queued jobs: no dispatch needed
    first = worker(env, tmp_path / "first.log")
    second = None
    try:
        wait_for_job(engine, job_id, 60, rows_done=300)
        terminated_at = first.signal(signal.SIGTERM)
        assert first.wait(15) == 0, first.output()
        assert time.monotonic() - terminated_at < 10
        assert_released(engine, job_id, "term_worker")

        second = worker(env, tmp_path / "second.log")
        done = wait_for_job(engine, job_id, 45)
        assert (done.status, done.rows_done, done.created, done.rows_failed) == ("succeeded", ROWS, ROWS, 0)
        assert_stored_once(engine, "term_worker", texts)
    finally:
        for process in (first, second):
            if process is not None:
                process.close()


def queued_upload(url: str, texts: list[str], source: str, tmp_path: Path) -> int:
    """An upload queued as the API queues it, with no API process around."""
    (tmp_path / "reviews.csv").write_bytes(review_csv(texts))
    settings = Settings(database_url=url, upload_dir=str(tmp_path / "uploads"))
    engine = make_engine(url)
    with (tmp_path / "reviews.csv").open("rb") as handle, session_factory(engine)() as session:
        path = uploads.store_file(handle, "reviews.csv", settings)
        job_id = uploads.create_job(
            session=session,
            tenant_id="default",
            path=path,
            filename="reviews.csv",
            source=source,
            mapping=None,
            encoding=None,
            sheet=None,
        ).id
    engine.dispose()
    return job_id
