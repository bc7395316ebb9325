"""Scale-out for real: `koe worker` processes take jobs through Celery on Redis, sharing PostgreSQL: several files
at once, and one large file split into parts that both workers run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core.config import Settings
from app.db.session import make_engine
from app.db.tables import Feedback, Job
from app.main import create_app
from app.workers.celery_app import celery_for
from tests.api.test_uploads import upload
from tests.conftest import ROOT, alembic_config, database_url, drop_postgres_database

BROKER = os.environ.get("KOE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def csv_bytes(prefix: str, n: int) -> bytes:
    lines = ["ID,本文"] + [f"{prefix}-{i},{prefix}の{i}件目: 店員さんの説明が丁寧で助かりました。" for i in range(n)]
    return "\r\n".join(lines).encode("cp932")


@contextmanager
def deployment(tmp_path: Path, workers: int, **env: str) -> Iterator[tuple[TestClient, str]]:
    """A fresh PostgreSQL database, `workers` Celery workers (answering pings before this yields) and an API."""
    redis.Redis.from_url(BROKER).flushdb()  # a broker database of this test's own
    url = database_url("postgresql", tmp_path, "koe_celery_test")
    command.upgrade(alembic_config(url), "head")
    environment = {
        **os.environ,
        "KOE_DATABASE_URL": url,
        "KOE_BROKER_URL": BROKER,
        "KOE_ANALYZER": "rules",
        "KOE_UPLOAD_DIR": str(tmp_path / "uploads"),
        **env,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    settings = Settings(
        database_url=url, broker_url=BROKER, analyzer="rules", upload_dir=str(tmp_path / "uploads"), auth_required=False
    )
    try:
        deadline = time.monotonic() + 120
        while len(celery_for(BROKER).control.ping(timeout=1.0)) < workers and time.monotonic() < deadline:
            time.sleep(0.5)
        with TestClient(create_app(settings)) as client:
            yield client, url
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_postgres_database(url.rsplit("/", 1)[-1])


def finished(client: TestClient, ids: list[int], timeout: float = 180) -> list[dict]:
    deadline = time.monotonic() + timeout
    states: list[dict] = []
    while time.monotonic() < deadline:
        states = [client.get(f"/v1/jobs/{i}").json() for i in ids]
        if all(s["status"] in ("succeeded", "failed") for s in states):
            break
        time.sleep(0.5)
    return states


def stored_rows(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(Feedback))
    engine.dispose()
    return int(count or 0)


def test_two_celery_workers_share_the_jobs(tmp_path: Path) -> None:
    with deployment(tmp_path, workers=2) as (client, url):
        ids = [upload(client, csv_bytes(name, 300), f"{name}.csv", source="celery")["id"] for name in ("A", "B", "C")]
        states = finished(client, ids)
        assert [(s["status"], s["created"]) for s in states] == [("succeeded", 300)] * 3
        assert len({s["options"]["path"] for s in states}) == 3
        assert stored_rows(url) == 900


def test_one_large_file_is_split_across_both_workers(tmp_path: Path) -> None:
    with deployment(tmp_path, workers=2, KOE_JOB_PART_ROWS="100", KOE_JOB_CHUNK_ROWS="10") as (client, url):
        job_id = upload(client, csv_bytes("L", 800), "large.csv", source="celery")["id"]
        [state] = finished(client, [job_id])
        assert (state["status"], state["rows_total"], state["rows_done"], state["created"]) == (
            "succeeded",
            800,
            800,
            800,
        )
        assert stored_rows(url) == 800
        engine = make_engine(url)
        with engine.connect() as connection:
            parts = connection.execute(select(Job.status, Job.worker).where(Job.parent_id == job_id)).all()
        engine.dispose()
        assert [status for status, _ in parts] == ["succeeded"] * 8
        assert len({worker for _, worker in parts}) == 2, parts  # both workers took parts of the one file
