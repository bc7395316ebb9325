"""Scale-out for real: two `koe worker` processes take jobs through Celery on Redis, sharing PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core.config import Settings
from app.db.session import make_engine
from app.db.tables import Feedback
from app.main import create_app
from tests.conftest import ROOT, alembic_config, database_url, drop_postgres_database

BROKER = os.environ.get("KOE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def csv_bytes(prefix: str, n: int) -> bytes:
    lines = ["ID,本文"] + [f"{prefix}-{i},{prefix}の{i}件目: 店員さんの説明が丁寧で助かりました。" for i in range(n)]
    return "\r\n".join(lines).encode("cp932")


def test_two_celery_workers_share_the_jobs(tmp_path: Path) -> None:
    redis.Redis.from_url(BROKER).flushdb()  # a broker database of this test's own
    url = database_url("postgresql", tmp_path, "koe_celery_test")
    command.upgrade(alembic_config(url), "head")
    env = {
        **os.environ,
        "KOE_DATABASE_URL": url,
        "KOE_BROKER_URL": BROKER,
        "KOE_ANALYZER": "rules",
        "KOE_UPLOAD_DIR": str(tmp_path / "uploads"),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    settings = Settings(
        database_url=url,
        broker_url=BROKER,
        analyzer="rules",
        upload_dir=str(tmp_path / "uploads"),
        auth_required=False,
    )
    try:
        with TestClient(create_app(settings)) as client:
            ids = []
            for name in ("A", "B", "C"):
                response = client.post(
                    "/v1/uploads", files={"file": (f"{name}.csv", csv_bytes(name, 300))}, data={"source": "celery"}
                )
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
            deadline = time.monotonic() + 180
            states = []
            while time.monotonic() < deadline:
                states = [client.get(f"/v1/jobs/{i}").json() for i in ids]
                if all(s["status"] in ("succeeded", "failed") for s in states):
                    break
                time.sleep(0.5)
        assert [(s["status"], s["created"]) for s in states] == [("succeeded", 300)] * 3
        assert len({s["options"]["path"] for s in states}) == 3
        engine = make_engine(url)
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Feedback)) == 900
        engine.dispose()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        drop_postgres_database(url.rsplit("/", 1)[-1])
