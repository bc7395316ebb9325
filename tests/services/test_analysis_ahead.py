"""Upload jobs analyze their next chunks in a child process: what is stored must be exactly what in-process
analysis stores, and a child that dies must not cost a row."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import psutil
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.db.repositories import feedback as repo
from app.db.tables import Feedback, Job
from app.services import jobs
from app.services.analysis_ahead import AnalysisAhead, Prepared
from app.services.jobs import SourceRow
from models.pipeline import AnalysisInput, AnalysisPipeline

ROOT = Path(__file__).resolve().parents[2]

# Polite, casual, negation, contrast, half-width kana, kaomoji and emoji: every analyzer has something to say.
TEXTS = [
    "スタッフの対応がとても丁寧でした！また利用します。",
    "配送は早かったけど、箱が潰れていました。",
    "普通に使えています。ｺｽﾊﾟは良い(^^)",
    "問い合わせの返信が三日も来ませんでした😡",
    "値段のわりに悪くない。",
    "解約の手続きがわかりにくいです。二度と使わない。",
    "アプリの画面が見やすくなって助かります",
]


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    # 7 rows in chunks of 2: 4 chunks, 3 of them analyzed ahead
    return settings.model_copy(update={"upload_dir": str(tmp_path / "uploads"), "job_chunk_rows": 2})


def upload(client: TestClient, source: str) -> int:
    csv = "\r\n".join(["ID,本文"] + [f"R-{i},{text}" for i, text in enumerate(TEXTS)]).encode("utf-8-sig")
    response = client.post("/v1/uploads", files={"file": ("reviews.csv", csv)}, data={"source": source})
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


def run(session: Session, settings: Settings, pipeline: AnalysisPipeline, job_id: int) -> Job:
    factory = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)
    jobs.run_pending(session_factory=factory, pipeline_for=lambda s, t: pipeline, settings=settings, worker="t")
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    return job


def stored(session: Session, source: str) -> dict[str, tuple[object, ...]]:
    rows = session.scalars(select(Feedback).where(Feedback.source == source)).all()
    result = {}
    for row in rows:
        a = repo.current_analysis(row)
        assert a is not None
        topics = [(t.topic, t.score) for t in a.topics]
        result[row.external_id or ""] = (row.text, a.sentiment, a.sentiment_scores, a.stage, a.sentences, topics)
    return result


def test_analysis_ahead_stores_what_in_process_analysis_stores(
    client: TestClient, session: Session, settings: Settings, pipeline: AnalysisPipeline
) -> None:
    assert pipeline.portable
    ahead = run(session, settings, pipeline, upload(client, "ahead"))
    in_process = run(session, settings.model_copy(update={"job_analysis_processes": 0}), pipeline, upload(client, "in"))
    for job in (ahead, in_process):
        assert (job.status, job.rows_done, job.created, job.rows_failed) == ("succeeded", 7, 7, 0)
    assert stored(session, "ahead") == stored(session, "in")
    assert len(stored(session, "ahead")) == len(TEXTS)


def test_prepared_answers_only_for_the_exact_input_it_was_given(pipeline: AnalysisPipeline) -> None:
    known, other = AnalysisInput("安いけど遅い。"), AnalysisInput("安いけど遅い。", stage="purchase")
    marked = replace(pipeline.analyze([known])[0], warnings=[{"code": "from_child", "message": "precomputed"}])
    answers = Prepared(pipeline, {known: marked}).analyze([known, other, known])
    assert answers[0] is marked and answers[2] is marked
    assert answers[1] == pipeline.analyze([other])[0] and answers[1].stage["label"] == "purchase"


def test_a_child_that_dies_leaves_the_job_to_analyze_in_process(
    settings: Settings, pipeline: AnalysisPipeline, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [SourceRow(n, {"text": text}) for n, text in enumerate(TEXTS, start=2)]
    inputs_of = partial(jobs.analysis_inputs, source="s", settings=settings, redaction="off")
    with AnalysisAhead(pipeline, inputs_of) as ahead:
        ahead.submit(2, rows[:3])
        assert type(ahead.pipeline_for(2)) is Prepared  # the child answered
        # Killed before the next chunk is sent: killed after, it may already have answered (a 4-row chunk takes ms).
        for child in psutil.Process().children(recursive=True):
            if "resource_tracker" not in " ".join(child.cmdline()):  # multiprocessing's own helper stays
                child.kill()
        with caplog.at_level(logging.WARNING, logger="koe.jobs"):
            ahead.submit(5, rows[3:])
            assert ahead.pipeline_for(5) is pipeline
        assert "analysis ahead stopped" in caplog.text
        ahead.submit(2, rows)  # after giving up: nothing is sent, every chunk is analyzed in process
        assert ahead.pipeline_for(2) is pipeline


PARENT = """
import time
from functools import partial
from app.core.config import Settings
from app.services.analysis_ahead import AnalysisAhead
from app.services.jobs import SourceRow, analysis_inputs
from models.registry import build_pipeline
inputs_of = partial(analysis_inputs, source="s", settings=Settings(), redaction="off")
ahead = AnalysisAhead(build_pipeline("rules"), inputs_of)
ahead.submit(2, [SourceRow(2, {"text": "注文した翌日に届きました。"})])
ahead.pipeline_for(2)  # the child is up
print("ready", flush=True)
time.sleep(60)
"""


def test_the_child_exits_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == b"ready"
        children = [c for c in psutil.Process(parent.pid).children() if "resource_tracker" not in " ".join(c.cmdline())]
        assert children
        parent.kill()  # SIGKILL: no shutdown, no atexit
        parent.wait()
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [] and len(gone) == len(children)
    finally:
        parent.kill()
