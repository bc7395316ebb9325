"""A large upload split into parts: every row stored once whichever worker runs which part, in whatever order; the
parent shows the parts' sums, and the part that finishes last settles it (failed if any part failed)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.db.repositories import jobs as jobs_repo
from app.db.tables import Feedback, Job
from app.services import jobs
from models.pipeline import AnalysisPipeline
from tests.api.test_uploads import cp932_csv, upload

HEADER = ["レビューID", "投稿日", "満足度", "本文"]
# Ten rows, parts of four: rows 1–4, 5–8, 9–10. A bad row in the first part and one in the last.
ROWS = [
    ["P-1", "2026/11/01", "5", "スタッフさんがめっちゃ親切でした(^^)"],
    ["P-2", "2026/11/01", "4", "安いけど届くのが遅い。"],
    ["P-3", "2026/11/02", "99", "満足度が範囲外の行"],
    ["P-4", "2026/11/02", "3", "悪くないです。"],
    ["P-5", "2026/11/03", "1", "アプリが何度も落ちて、ログインすらできません(#ﾟДﾟ)"],
    ["P-6", "2026/11/03", "2", "問い合わせの返信が三日後…"],
    ["P-7", "2026/11/04", "4", "ｺｽﾊﾟは良いと思います"],
    ["P-8", "2026/11/04", "5", "また利用します！"],
    ["P-9", "2026/11/05", "3", ""],
    ["P-10", "2026/11/05", "4", "解約手続きが分かりにくかったです。"],
]
VALID = [row[3] for row in ROWS if row[0] not in ("P-3", "P-9")]


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    parts_of_four = {"job_part_rows": 4, "job_chunk_rows": 2, "job_analysis_processes": 0}
    return settings.model_copy(update={"upload_dir": str(tmp_path / "uploads"), **parts_of_four})


def factory_of(session: Session) -> sessionmaker[Session]:
    return sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)


def run(session: Session, settings: Settings, pipeline: AnalysisPipeline, job_id: int, worker: str = "t") -> str:
    assert jobs_repo.claim(session, job_id, worker=worker, stale_after=timedelta(seconds=60))
    return jobs.run(job_id, session_factory=factory_of(session), pipeline_for=lambda s, t: pipeline, settings=settings)


def parts_of(session: Session, job_id: int) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.parent_id == job_id).order_by(Job.id)))


def stored(session: Session) -> list[str]:
    return list(session.scalars(select(Feedback.text).where(Feedback.source == "store_survey")))


def test_parts_run_in_any_order_by_any_worker_store_every_row_once(client, session, settings, pipeline) -> None:
    job = upload(client, cp932_csv([HEADER, *ROWS], title=None))
    announced: list[int] = []
    assert jobs_repo.claim(session, job["id"], worker="first", stale_after=timedelta(seconds=60))
    status = jobs.run(
        job["id"],
        session_factory=factory_of(session),
        pipeline_for=lambda s, t: pipeline,
        settings=settings,
        announce=announced.extend,
    )
    parts = parts_of(session, job["id"])
    assert status == "running" and announced == [p.id for p in parts]
    assert [(p.options["part"], p.rows_total, p.status) for p in parts] == [
        ([0, 4], 4, "queued"),
        ([4, 8], 4, "queued"),
        ([8, 10], 2, "queued"),
    ]
    # A worker looking for jobs finds the parts, never the split job itself
    assert jobs_repo.claimable(session, stale_after=timedelta(seconds=0)) == [p.id for p in parts]

    assert run(session, settings, pipeline, parts[2].id, worker="b") == "succeeded"
    partial = client.get(f"/v1/jobs/{job['id']}").json()
    assert (partial["status"], partial["rows_total"], partial["rows_done"], partial["created"]) == ("running", 10, 2, 1)
    assert run(session, settings, pipeline, parts[0].id, worker="a") == "succeeded"
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "running"
    assert run(session, settings, pipeline, parts[1].id, worker="b") == "succeeded"

    done = client.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded" and done["finished_at"] is not None
    counters = ("rows_total", "rows_done", "created", "updated", "unchanged", "rows_failed")
    assert [done[c] for c in counters] == [10, 10, 8, 0, 0, 2]
    errors = client.get(f"/v1/jobs/{job['id']}/errors").json()["data"]
    assert sorted((e["row_number"], e["column"]) for e in errors) == [(4, "満足度"), (10, "本文")]
    assert sorted(stored(session)) == sorted(VALID)
    assert [p.worker for p in parts_of(session, job["id"])] == ["a", "b", "b"]
    # Parts are the service's own bookkeeping: a tenant sees the job it uploaded, not its parts
    assert client.get(f"/v1/jobs/{parts[0].id}").status_code == 404


def test_split_upload_drained_by_one_worker_then_uploaded_again_is_unchanged(
    client, session, settings, pipeline
) -> None:
    content = cp932_csv([HEADER, *ROWS], title=None)
    for expected in ((8, 0), (0, 8)):
        job = upload(client, content)
        drained = jobs.run_pending(
            session_factory=factory_of(session), pipeline_for=lambda s, t: pipeline, settings=settings, worker="w"
        )
        assert drained == 4  # the job, split, then its three parts
        done = client.get(f"/v1/jobs/{job['id']}").json()
        assert (done["status"], done["rows_done"], done["created"], done["unchanged"]) == ("succeeded", 10, *expected)
    assert session.scalar(select(func.count()).select_from(Feedback).where(Feedback.source == "store_survey")) == 8


def test_a_failed_part_fails_the_job_once_the_others_finish(client, session, settings, pipeline) -> None:
    job = upload(client, cp932_csv([HEADER, *ROWS], title=None))
    run(session, settings, pipeline, job["id"])
    parts = parts_of(session, job["id"])

    def broken(_session: Session, _tenant: str) -> AnalysisPipeline:
        raise RuntimeError("analyzer crashed")

    assert jobs_repo.claim(session, parts[1].id, worker="w", stale_after=timedelta(seconds=60))
    failed = jobs.run(parts[1].id, session_factory=factory_of(session), pipeline_for=broken, settings=settings)
    assert failed == "failed"
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "running"  # the other parts still run
    for part in (parts[0], parts[2]):
        assert run(session, settings, pipeline, part.id) == "succeeded"

    done = client.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "failed"
    assert done["error"] == "rows 5–8 (part 2 of 3): RuntimeError: analyzer crashed"
    assert (done["rows_done"], done["created"], done["rows_failed"]) == (6, 4, 2)  # the parts that ran are stored
    assert sorted(stored(session)) == sorted(t for t in VALID if t not in {r[3] for r in ROWS[4:8]})


def test_cancelling_a_split_job_cancels_its_parts(client, session, settings, pipeline) -> None:
    job = upload(client, cp932_csv([HEADER, *ROWS], title=None))
    run(session, settings, pipeline, job["id"])
    assert run(session, settings, pipeline, parts_of(session, job["id"])[0].id) == "succeeded"

    cancelled = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert [p.status for p in parts_of(session, job["id"])] == ["succeeded", "cancelled", "cancelled"]
    assert (
        jobs.run_pending(
            session_factory=factory_of(session), pipeline_for=lambda s, t: pipeline, settings=settings, worker="w"
        )
        == 0
    )
    assert client.get(f"/v1/jobs/{job['id']}").json()["rows_done"] == 4
    assert len(stored(session)) == 3
