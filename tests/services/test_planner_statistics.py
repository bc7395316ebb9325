"""A job keeps PostgreSQL's statistics of the tables it grows fresh (app.db.repositories.statistics says why): the
rule that decides when, and a real upload job that leaves the planner knowing the rows it stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.db.repositories import statistics
from app.db.tables import Feedback
from app.services import jobs
from models.pipeline import AnalysisPipeline


class Planner:
    """Stands in for the database: counts ANALYZEs and believes what the last one saw."""

    def __init__(self, believed: int) -> None:
        self.believed, self.table, self.analyzes = believed, believed, 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(statistics, "tracked", lambda session: True)
        monkeypatch.setattr(statistics, "believed_rows", lambda session: self.believed)
        monkeypatch.setattr(statistics, "analyze", self.analyze)

    def analyze(self, session: object) -> None:
        self.analyzes += 1
        self.believed = self.table


def write(planner: Planner, tracker: statistics.PlannerStatistics, rows: int, chunk: int = 500) -> None:
    for _ in range(rows // chunk):
        planner.table += chunk
        tracker.wrote(None, chunk)  # type: ignore[arg-type]


def planner_at(believed: int, monkeypatch: pytest.MonkeyPatch) -> tuple[Planner, statistics.PlannerStatistics]:
    planner = Planner(believed)
    planner.install(monkeypatch)
    return planner, statistics.PlannerStatistics()


def test_a_never_analyzed_table_is_analyzed_after_the_first_thousand_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    planner, tracker = planner_at(0, monkeypatch)
    write(planner, tracker, 500)
    assert planner.analyzes == 0
    write(planner, tracker, 500)
    assert (planner.analyzes, planner.believed) == (1, 1_000)


def test_a_large_table_is_analyzed_once_a_tenth_of_it_was_written(monkeypatch: pytest.MonkeyPatch) -> None:
    planner, tracker = planner_at(200_000, monkeypatch)
    write(planner, tracker, 19_500)
    assert planner.analyzes == 0
    write(planner, tracker, 500)
    assert (planner.analyzes, planner.believed) == (1, 220_000)
    write(planner, tracker, 21_500)  # the next tenth is of the grown table
    assert planner.analyzes == 1
    write(planner, tracker, 500)
    assert planner.analyzes == 2


def test_a_million_rows_into_an_empty_table_cost_few_analyzes(monkeypatch: pytest.MonkeyPatch) -> None:
    planner, tracker = planner_at(0, monkeypatch)
    write(planner, tracker, 1_000_000)
    assert 40 <= planner.analyzes <= 60  # every 1,000 rows up to 10,000, then every tenth
    assert planner.believed >= 900_000


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    update = {"upload_dir": str(tmp_path / "uploads"), "job_chunk_rows": 2, "job_analysis_processes": 0}
    return settings.model_copy(update=update)


def test_an_upload_job_leaves_postgresql_knowing_its_rows(
    client: TestClient,
    session: Session,
    settings: Settings,
    pipeline: AnalysisPipeline,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend != "postgresql":
        assert not statistics.tracked(session)  # SQLite's planner needs no statistics to seek its indexes
        return
    monkeypatch.setattr(statistics.PlannerStatistics, "MIN_ROWS", 4)
    monkeypatch.setattr(jobs, "PLANNER", statistics.PlannerStatistics())  # the process's count, from this job on
    before = session.scalar(select(func.count()).select_from(Feedback))  # other tests' committed rows, if any
    rows = ["ID,本文"] + [
        f"S-{i},{text}" for i, text in enumerate(["安いけど遅い", "悪くないです(^^)", "二度と買わない"] * 2)
    ]
    response = client.post(
        "/v1/uploads", files={"file": ("reviews.csv", "\r\n".join(rows).encode())}, data={"source": "stats"}
    )
    assert response.status_code == 202, response.text
    factory = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)
    assert jobs.run_pending(session_factory=factory, pipeline_for=lambda s, t: pipeline, settings=settings, worker="t")
    assert session.scalar(select(func.count()).select_from(Feedback).where(Feedback.source == "stats")) == 6
    # Analyzed once, after the second chunk (4 rows written, ≥ MIN_ROWS): the planner saw those 4 rows.
    assert statistics.believed_rows(session) == before + 4
