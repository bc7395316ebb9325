"""A worker killed with SIGKILL mid-job: the next worker resumes it and every row is stored exactly once."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select

from app.core.config import Settings
from app.db.session import make_engine, session_factory
from app.db.tables import Feedback, Job
from app.schemas.jobs import JobPublic
from app.services import jobs, uploads
from tests.conftest import BACKENDS, ROOT, alembic_config, database_url, drop_postgres_database

ROWS = 1_500


def review_csv(path: Path) -> list[str]:
    texts = [
        f"注文番号{i}の商品、{'とても良かったです' if i % 3 else '届くのが遅すぎました'}。{i % 7}回目の利用です。"
        for i in range(ROWS)
    ]
    lines = ["ID,本文,評価"] + [f"A-{i},{text},{i % 5 + 1}" for i, text in enumerate(texts)]
    path.write_bytes("\r\n".join(lines).encode("cp932"))
    return texts


def worker(url: str, upload_dir: Path, *extra: str, part_rows: int = 0) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KOE_DATABASE_URL": url,
        "KOE_JOB_PART_ROWS": str(part_rows),
        "KOE_ANALYZER": "rules",
        "KOE_JOB_CHUNK_ROWS": "50",
        "KOE_JOB_STALE_SECONDS": "5",
        "KOE_UPLOAD_DIR": str(upload_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def job_state(factory, job_id: int) -> JobPublic:
    with factory() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return jobs.to_public(job)


@pytest.mark.parametrize("part_rows", [0, 500], ids=["whole", "in-parts"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_worker_is_resumed_exactly_once(backend: str, part_rows: int, tmp_path: Path) -> None:
    url = database_url(backend, tmp_path, "koe_resume_test")
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    factory = session_factory(engine)
    texts = review_csv(tmp_path / "reviews.csv")
    settings = Settings(database_url=url, upload_dir=str(tmp_path / "uploads"))
    with (tmp_path / "reviews.csv").open("rb") as handle:
        path = uploads.store_file(handle, "reviews.csv", settings)
    with factory() as session:
        job_id = uploads.create_job(
            session=session,
            tenant_id="default",
            path=path,
            filename="reviews.csv",
            source="resume",
            mapping=None,
            encoding=None,
            sheet=None,
        ).id

    first = worker(url, tmp_path / "uploads", part_rows=part_rows)
    deadline = time.monotonic() + 120
    while job_state(factory, job_id).rows_done < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = job_state(factory, job_id)
    assert killed.status == "running" and 300 <= killed.rows_done < ROWS

    time.sleep(6)  # the dead worker's heartbeat goes stale
    second = worker(url, tmp_path / "uploads", "--once", part_rows=part_rows)
    assert second.wait(timeout=300) == 0, second.stderr.read().decode() if second.stderr else ""

    done = job_state(factory, job_id)
    assert (done.status, done.rows_done, done.created, done.rows_failed) == ("succeeded", ROWS, ROWS, 0)
    with factory() as session:
        parts = session.scalars(select(Job.status).where(Job.parent_id == job_id)).all()
        assert parts == (["succeeded"] * 3 if part_rows else [])
        stored = session.scalars(select(Feedback.text).where(Feedback.source == "resume").order_by(Feedback.id)).all()
        distinct = session.scalar(select(func.count(func.distinct(Feedback.external_id))))
    assert len(stored) == distinct == ROWS
    digest = lambda values: hashlib.sha256("\n".join(sorted(values)).encode()).hexdigest()  # noqa: E731
    assert digest(stored) == digest(texts)
    engine.dispose()
    if backend == "postgresql":
        drop_postgres_database(str(engine.url.database))
