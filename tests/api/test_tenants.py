"""Tenant isolation: with its own key, tenant A can neither read, list, aggregate, export, delete nor guess
tenant B's feedback, jobs, taxonomy or keys; B's ids answer A exactly as ids that do not exist (404, not 403)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.services import jobs
from app.workers.embedded import pipeline_provider
from models.pipeline import AnalysisPipeline
from tests.factories import REVIEW_NEGATIVE, REVIEW_POSITIVE, api_key, item

HOTEL = "name: hotel\nversion: 1\ntopics:\n  - id: room\n    label: 客室\n    keywords: [部屋, 客室]\n"
MISSING = 987_654_321


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"auth_required": True, "upload_dir": str(tmp_path / "uploads")})


@pytest.fixture
def acme(session: Session) -> dict[str, str]:
    return api_key(session, "acme", "admin")


@pytest.fixture
def globex(session: Session) -> dict[str, str]:
    return api_key(session, "globex", "admin")


def drain(session: Session, settings: Settings, pipeline: AnalysisPipeline) -> None:
    factory = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)
    jobs.run_pending(session_factory=factory, pipeline_for=pipeline_provider(pipeline), settings=settings, worker="t")


def seed_globex(client: TestClient, globex: dict[str, str]) -> int:
    items = [item(REVIEW_NEGATIVE, external_id="G-1", nps=1, csat=1, segment="gold"), item(REVIEW_POSITIVE, nps=10)]
    response = client.post("/v1/feedback", json={"items": items}, headers=globex)
    assert response.status_code == 201, response.text
    return response.json()["items"][0]["id"]


def same_as_missing(client: TestClient, method: str, path: str, real: int, headers: dict[str, str]) -> None:
    """A's answer about B's id is the answer about an id nobody has."""
    theirs = client.request(method, path.format(real), headers=headers)
    nobodys = client.request(method, path.format(MISSING), headers=headers)
    assert theirs.status_code == nobodys.status_code == 404, theirs.text
    assert theirs.json()["detail"].replace(str(real), "#") == nobodys.json()["detail"].replace(str(MISSING), "#")


def test_feedback_of_another_tenant_cannot_be_read_listed_or_deleted(
    client: TestClient, acme: dict[str, str], globex: dict[str, str]
) -> None:
    theirs = seed_globex(client, globex)
    same_as_missing(client, "GET", "/v1/feedback/{}", theirs, acme)
    same_as_missing(client, "DELETE", "/v1/feedback/{}", theirs, acme)
    same_as_missing(client, "GET", "/v1/feedback/{}/labels", theirs, acme)
    correction = client.post(f"/v1/feedback/{theirs}/labels", json={"sentiment": "positive"}, headers=acme)
    assert correction.status_code == 404 and correction.json()["code"] == "feedback_not_found"
    assert client.get("/v1/feedback", headers=acme).json() == {"data": [], "count": 0, "next_cursor": None}
    assert client.get("/v1/feedback", params={"segment": "gold"}, headers=acme).json()["count"] == 0
    assert client.get(f"/v1/feedback/{theirs}", headers=globex).status_code == 200  # not deleted
    assert client.get("/v1/feedback", headers=globex).json()["count"] == 2


def test_the_same_external_id_is_a_separate_item_per_tenant(
    client: TestClient, acme: dict[str, str], globex: dict[str, str]
) -> None:
    theirs = seed_globex(client, globex)
    mine = client.post("/v1/feedback", json={"items": [item(REVIEW_POSITIVE, external_id="G-1")]}, headers=acme)
    assert mine.json()["items"][0]["status"] == "created" and mine.json()["items"][0]["id"] != theirs
    assert client.get(f"/v1/feedback/{theirs}", headers=globex).json()["text"] == REVIEW_NEGATIVE


def test_aggregates_and_exports_count_only_the_callers_tenant(
    client: TestClient, acme: dict[str, str], globex: dict[str, str]
) -> None:
    seed_globex(client, globex)
    assert client.post("/v1/feedback", json={"items": [item(REVIEW_POSITIVE, nps=9)]}, headers=acme).status_code == 201
    journey = client.get("/v1/analytics/journey", headers=acme).json()
    assert journey["n"] == 1 and sum(s["n"] for s in journey["stages"]) == 1
    assert "delivery" not in {t["topic"] for t in journey["topics"]}  # only B's complaint is about delivery
    scores = client.get("/v1/analytics/scores", headers=acme).json()
    assert (scores["overall"]["n"], scores["overall"]["nps"]["n"], scores["overall"]["csat"]["n"]) == (1, 1, 0)
    assert client.get("/v1/analytics/scores", headers=globex).json()["overall"]["n"] == 2

    exported = client.get("/v1/feedback/export", params={"format": "jsonl"}, headers=acme).text.splitlines()
    assert [json.loads(line)["text"] for line in exported] == [REVIEW_POSITIVE]
    assert REVIEW_NEGATIVE not in client.get("/v1/feedback/export", headers=acme).content.decode("utf-8-sig")


def test_jobs_of_another_tenant_cannot_be_read_or_cancelled(
    client: TestClient, session: Session, settings: Settings, pipeline, acme: dict[str, str], globex: dict[str, str]
) -> None:
    csv = "レビューID,本文,満足度\nR-1,とても良かったです,5\nR-2,,3\n".encode()
    upload = client.post("/v1/uploads", files={"file": ("r.csv", csv)}, data={"source": "store"}, headers=globex)
    assert upload.status_code == 202, upload.text
    done = upload.json()["id"]
    drain(session, settings, pipeline)
    assert client.get(f"/v1/jobs/{done}/errors", headers=globex).json()["count"] == 1
    queued = client.post("/v1/jobs/rescore", headers=globex).json()["id"]

    for job_id in (done, queued):
        same_as_missing(client, "GET", "/v1/jobs/{}", job_id, acme)
        same_as_missing(client, "GET", "/v1/jobs/{}/errors", job_id, acme)
        same_as_missing(client, "GET", "/v1/jobs/{}/errors?format=csv", job_id, acme)
        same_as_missing(client, "POST", "/v1/jobs/{}/cancel", job_id, acme)
    assert client.get(f"/v1/jobs/{queued}", headers=globex).json()["status"] == "queued"


def test_a_rescore_touches_only_the_callers_feedback(
    client: TestClient, session: Session, settings: Settings, pipeline, acme: dict[str, str], globex: dict[str, str]
) -> None:
    seed_globex(client, globex)
    client.post("/v1/feedback", json={"items": [item(REVIEW_POSITIVE)]}, headers=acme)
    client.put("/v1/taxonomy", content=HOTEL.encode(), headers=acme)
    job = client.post("/v1/jobs/rescore", headers=acme).json()
    drain(session, settings, pipeline)
    done = client.get(f"/v1/jobs/{job['id']}", headers=acme).json()
    assert (done["status"], done["rows_total"], done["updated"]) == ("succeeded", 1, 1)
    for stored in client.get("/v1/feedback", headers=globex).json()["data"]:
        assert "hotel" not in stored["analysis"]["model_versions"]["topics"]


def test_a_taxonomy_belongs_to_its_tenant(client: TestClient, acme: dict[str, str], globex: dict[str, str]) -> None:
    assert client.put("/v1/taxonomy", content=HOTEL.encode(), headers=globex).json()["name"] == "hotel"
    assert client.get("/v1/taxonomy", headers=acme).json()["name"] != "hotel"
    assert client.delete("/v1/taxonomy", headers=acme).status_code == 200  # resets A's own only
    assert client.get("/v1/taxonomy", headers=globex).json()["name"] == "hotel"
    text = {"documents": [{"text": "部屋が広くて快適でした。"}]}
    topics = lambda headers: client.post("/v1/analyze", json=text, headers=headers).json()["documents"][0]["topics"]  # noqa: E731
    assert "room" in {t["id"] for t in topics(globex)} and "room" not in {t["id"] for t in topics(acme)}


def test_keys_of_another_tenant_cannot_be_listed_or_revoked(
    client: TestClient, acme: dict[str, str], globex: dict[str, str]
) -> None:
    theirs = client.get("/v1/keys", headers=globex).json()["data"]
    assert [k["tenant_id"] for k in client.get("/v1/keys", headers=acme).json()["data"]] == ["acme"]
    same_as_missing(client, "DELETE", "/v1/keys/{}", theirs[0]["id"], acme)
    assert client.get("/v1/feedback", headers=globex).status_code == 200  # still valid
