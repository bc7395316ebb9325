"""A worker asked to stop mid-job finishes the chunk in flight and hands the job back, queued at its checkpoint,
so that the next worker resumes it at once (tests/faults/test_processes.py does it with real SIGTERMs)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.db.tables import Feedback, Job
from app.services import jobs
from models.pipeline import AnalysisInput, AnalysisPipeline, DocumentAnalysis

TEXTS = [
    "スタッフの対応がとても丁寧でした！",
    "配送は早かったけど、箱が潰れていました。",
    "普通に使えています。ｺｽﾊﾟは良い(^^)",
    "問い合わせの返信が三日も来ませんでした。",
    "アプリの画面が見やすくなって助かります。",
    "解約の手続きがわかりにくいです。",
]


class StopWhileAnalyzing:
    """The serving pipeline, asking the worker to stop while it analyzes the first chunk."""

    def __init__(self, pipeline: AnalysisPipeline, stop: threading.Event) -> None:
        self.pipeline, self.stop = pipeline, stop
        self.model_versions = pipeline.model_versions
        self.portable = False  # it must run in the worker's process, where the stop event is

    def analyze(self, inputs: Sequence[AnalysisInput]) -> list[DocumentAnalysis]:
        self.stop.set()
        return self.pipeline.analyze(inputs)


@pytest.fixture
def settings(migrated_engine: Engine, tmp_path: Path) -> Settings:
    return Settings(
        database_url=migrated_engine.url.render_as_string(hide_password=False),
        analyzer="rules",
        embedded_worker=False,
        auth_required=False,
        upload_dir=str(tmp_path / "uploads"),
        job_chunk_rows=2,
    )


def queued_upload(client: TestClient) -> int:
    csv = "\r\n".join(["ID,本文"] + [f"R-{i},{text}" for i, text in enumerate(TEXTS)]).encode("cp932")
    response = client.post("/v1/uploads", files={"file": ("reviews.csv", csv)}, data={"source": "release"})
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


def drain(session: Session, settings: Settings, pipeline: object, stop: threading.Event | None = None) -> int:
    """Run queued jobs inside the test's transaction, as a worker would."""
    factory = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)
    return jobs.run_pending(
        session_factory=factory, pipeline_for=lambda s, t: pipeline, settings=settings, worker="t", stop=stop
    )


def stored(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Feedback).where(Feedback.source == "release")) or 0)


def test_a_stopped_job_is_released_after_its_chunk_and_resumed_at_once(
    client: TestClient, session: Session, settings: Settings, pipeline: AnalysisPipeline
) -> None:
    job_id = queued_upload(client)
    stop = threading.Event()
    assert drain(session, settings, StopWhileAnalyzing(pipeline, stop), stop) == 1
    released = session.get(Job, job_id, populate_existing=True)
    assert released is not None
    assert (released.status, released.worker, released.rows_done, released.created) == ("queued", None, 2, 2)
    assert released.checkpoint == 3 and stored(session) == 2  # header row 1: rows 2 and 3 committed, no more

    # The heartbeat is fresh (KOE_JOB_STALE_SECONDS is 120 s): only the release makes it claimable now.
    assert drain(session, settings, pipeline) == 1
    done = session.get(Job, job_id, populate_existing=True)
    assert done is not None
    assert (done.status, done.rows_done, done.created, done.rows_failed) == ("succeeded", 6, 6, 0)
    assert stored(session) == 6


def test_a_stopping_worker_claims_no_job(
    client: TestClient, session: Session, settings: Settings, pipeline: AnalysisPipeline
) -> None:
    job_id = queued_upload(client)
    stop = threading.Event()
    stop.set()
    assert drain(session, settings, pipeline, stop) == 0
    assert session.get(Job, job_id, populate_existing=True).status == "queued"  # type: ignore[union-attr]
