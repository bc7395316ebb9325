"""Re-scoring stored feedback with the models now serving, as a job; the old scoring keeps its identity."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.db.tables import Analysis
from app.services import jobs
from app.workers.embedded import pipeline_provider
from models.pipeline import AnalysisPipeline
from tests.factories import REVIEW_NEGATIVE, REVIEW_POSITIVE, item

SHIPPING = "name: shipping\nversion: 3\ntopics:\n  - id: shipping\n    label: 配送\n    keywords: [届く, 配送]\n"


def drain(session: Session, settings: Settings, pipeline: AnalysisPipeline) -> None:
    factory = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)
    jobs.run_pending(session_factory=factory, pipeline_for=pipeline_provider(pipeline), settings=settings, worker="t")


def test_rescore_after_a_taxonomy_change(client: TestClient, session: Session, settings, pipeline) -> None:
    items = [item(REVIEW_NEGATIVE), item(REVIEW_POSITIVE), item(REVIEW_NEGATIVE, segment="gold")]
    client.post("/v1/feedback", json={"items": items})
    client.put("/v1/taxonomy", content=SHIPPING.encode())

    response = client.post("/v1/jobs/rescore", params={"sentiment": "negative"})
    assert response.status_code == 202 and response.headers["Location"].startswith("/v1/jobs/")
    drain(session, settings, pipeline)
    job = client.get(response.headers["Location"]).json()
    assert (job["status"], job["rows_total"], job["updated"], job["unchanged"]) == ("succeeded", 2, 2, 0)

    versions = session.scalars(select(Analysis.model_versions).where(Analysis.is_current.is_(True))).all()
    assert sorted("shipping.v3" in v["topics"] for v in versions) == [False, True, True]
    assert len(session.scalars(select(Analysis)).all()) == 5  # 3 first scorings kept + 2 new

    again = client.post("/v1/jobs/rescore").json()
    drain(session, settings, pipeline)
    assert client.get(f"/v1/jobs/{again['id']}").json()["unchanged"] == 2
