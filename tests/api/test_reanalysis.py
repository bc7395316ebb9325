"""A new model version adds an analysis row; the earlier scoring keeps its identity."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.tables import Analysis
from tests.factories import REVIEW_NEGATIVE, item

SHIPPING_ONLY = (
    "name: shipping\nversion: 1\ntopics:\n  - id: shipping\n    label: 配送\n    keywords: [届く, 配送]\n".encode()
)


def test_new_topic_model_version_keeps_the_old_analysis(client: TestClient, session: Session) -> None:
    payload = item(REVIEW_NEGATIVE)
    fid = client.post("/v1/feedback", json={"items": [payload]}).json()["items"][0]["id"]
    first = client.get(f"/v1/feedback/{fid}").json()["analysis"]["model_versions"]["topics"]

    assert client.put("/v1/taxonomy", content=SHIPPING_ONLY).status_code == 200
    edited = {**payload, "text": REVIEW_NEGATIVE + "（追記）結局キャンセルしました。"}
    assert client.post("/v1/feedback", json={"items": [edited]}).json()["items"][0]["status"] == "updated"

    rows = session.scalars(select(Analysis).where(Analysis.feedback_id == fid).order_by(Analysis.id)).all()
    assert [r.is_current for r in rows] == [False, True]
    assert rows[0].model_versions["topics"] == first
    assert "shipping.v1" in rows[1].model_versions["topics"]
    assert [t.topic for t in rows[1].topics] == ["shipping"]
    assert {t.topic for t in rows[0].topics} >= {"delivery"}  # the old scoring is untouched
    current = client.get(f"/v1/feedback/{fid}").json()["analysis"]
    assert [t["id"] for t in current["topics"]] == ["shipping"]


def test_metadata_only_change_keeps_the_analysis(client: TestClient, session: Session) -> None:
    payload = item(REVIEW_NEGATIVE, metadata={"store": "新宿店"})
    fid = client.post("/v1/feedback", json={"items": [payload]}).json()["items"][0]["id"]
    moved = {**payload, "metadata": {"store": "池袋店"}}
    assert client.post("/v1/feedback", json={"items": [moved]}).json()["items"][0]["status"] == "updated"
    rows = session.scalars(select(Analysis).where(Analysis.feedback_id == fid)).all()
    assert len(rows) == 1 and rows[0].is_current
    assert client.get(f"/v1/feedback/{fid}").json()["metadata"] == {"store": "池袋店"}
