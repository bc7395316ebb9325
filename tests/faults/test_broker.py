"""The Celery broker goes away, for real: a TCP proxy between koe and Redis is cut (the shared Redis server keeps
serving everybody else), or turns into a black hole (a firewall, a failed-over host: no reset, only silence). Jobs
live in the database, so a running job does not notice, and an upload accepted during the outage waits, queued,
for the broker to come back; no row is lost or stored twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.config import Settings
from app.db.session import make_engine
from app.main import create_app
from tests.conftest import alembic_config, database_url, drop_postgres_database
from tests.faults.proxy import TcpProxy
from tests.faults.running import Process, assert_stored_once, job, koe_env, review_csv, review_texts, wait_for_job
from tests.faults.running import worker as koe_worker

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 14  # a database no other test uses
ROWS = 1_500


@dataclass
class Stack:
    """An API (in process) and one `koe worker` talking to Redis through `proxy`, and to PostgreSQL directly."""

    client: TestClient
    proxy: TcpProxy
    worker: Process
    engine: Engine


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB).flushdb()  # directly, not through the proxy
    url = database_url("postgresql", tmp_path, "koe_broker_test")
    command.upgrade(alembic_config(url), "head")
    proxy = TcpProxy(REDIS_HOST, REDIS_PORT).start()
    broker = f"redis://127.0.0.1:{proxy.port}/{REDIS_DB}"
    # KOE_JOB_STALE_SECONDS is also the period of the workers' sweep of queued jobs.
    worker = koe_worker(koe_env(url, tmp_path, KOE_BROKER_URL=broker, KOE_JOB_STALE_SECONDS="5"), tmp_path / "w.log")
    settings = Settings(
        database_url=url, broker_url=broker, analyzer="rules", auth_required=False, upload_dir=str(tmp_path / "up")
    )
    engine = make_engine(url)
    try:
        with TestClient(create_app(settings)) as client:
            yield Stack(client, proxy, worker, engine)
    finally:
        worker.close()
        proxy.stop()
        engine.dispose()
        drop_postgres_database(str(engine.url.database))


def upload(stack: Stack, texts: list[str], source: str) -> dict:
    files = {"file": ("reviews.csv", review_csv(texts))}
    response = stack.client.post("/v1/uploads", files=files, data={"source": source})
    assert response.status_code == 202, response.text
    return response.json()


# How the broker goes away, and how long an upload may then wait for its 202. Cut: the publish is refused at once.
# Silent: only socket timeouts end the wait, 0.5 s for the rate limit, then three of 5 s (celery_app's socket_timeout)
# for the publish and its one retry: ~15.5 s, measured (with Celery's default three retries: ~26 s).
FAULTS = [pytest.param("cut", 10, id="cut"), pytest.param("black_hole", 20, id="silent")]


@pytest.mark.parametrize(("fault", "answered_within"), FAULTS)
def test_an_upload_while_the_broker_is_away_is_accepted_and_runs_once_it_is_back(
    stack: Stack, fault: str, answered_within: float
) -> None:
    warmup = upload(stack, review_texts("warmup", 20), "warmup")["id"]
    assert wait_for_job(stack.engine, warmup, 45).status == "succeeded"  # the worker is up and consuming
    texts = review_texts(f"broker_{fault}", ROWS)
    getattr(stack.proxy, fault)()
    started = time.monotonic()
    accepted = upload(stack, texts, f"broker_{fault}")  # 202: the job is in the database, only its dispatch failed
    assert time.monotonic() - started < answered_within  # a bounded wait, not a hang
    assert accepted["status"] == "queued" and Path(accepted["options"]["path"]).is_file()

    stack.proxy.restore()
    done = wait_for_job(stack.engine, accepted["id"], 45)  # the periodic sweep, or a held publish that now lands
    assert (done.status, done.rows_done, done.created, done.rows_failed) == ("succeeded", ROWS, ROWS, 0)
    assert_stored_once(stack.engine, f"broker_{fault}", texts)


# After the job: cut, the worker reconnects at once. Silent: the job's task is acknowledged late (task_acks_late), as
# the job ends, into the silence, where the ack fails after socket_timeout (5 s, celery_app); that must not wedge the
# worker, so the broker answers again only after it.
AFTER_THE_JOB = [pytest.param("cut", 0, id="cut"), pytest.param("black_hole", 7, id="silent")]


@pytest.mark.parametrize(("fault", "away_after_the_job"), AFTER_THE_JOB)
def test_a_running_job_survives_the_broker_going_away(stack: Stack, fault: str, away_after_the_job: float) -> None:
    texts = review_texts(f"broker_{fault}_run", ROWS)
    job_id = upload(stack, texts, f"broker_{fault}_run")["id"]
    wait_for_job(stack.engine, job_id, 60, rows_done=300)
    getattr(stack.proxy, fault)()
    assert job(stack.engine, job_id).status == "running"  # the broker went away mid-job
    assert stack.proxy.connections > 0  # the worker and the API really talked to Redis through the proxy

    done = wait_for_job(stack.engine, job_id, 30)  # its rows come from the database, not from the broker
    assert (done.status, done.rows_done, done.created, done.rows_failed) == ("succeeded", ROWS, ROWS, 0)
    assert_stored_once(stack.engine, f"broker_{fault}_run", texts)
    time.sleep(away_after_the_job)

    stack.proxy.restore()  # the worker takes jobs again by itself: a job dispatched now runs too
    after = review_texts(f"broker_{fault}_back", 200)
    done = wait_for_job(stack.engine, upload(stack, after, f"broker_{fault}_back")["id"], 45)
    assert (done.status, done.created) == ("succeeded", 200), stack.worker.output()
    assert_stored_once(stack.engine, f"broker_{fault}_back", after)
