"""Emotions travel from an emotion analyzer through storage to every reader (item, list, analyze, export); the
rule pipeline has none and answers null. The analyzer here is a stand-in: emotion quality is measured by
pipelines.evaluate and tested on the real model in tests/models/test_accurate.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from models.registry import build_pipeline
from tests.factories import REVIEW_POSITIVE, CueEmotions, item

ANGRY = "三回も電話したのに折り返しなし。ふざけてるの？😡"


@pytest.fixture
def with_emotions(client: TestClient) -> Iterator[TestClient]:
    rules = client.app.state.pipeline  # type: ignore[attr-defined]
    client.app.state.pipeline = build_pipeline("rules")  # type: ignore[attr-defined]
    client.app.state.pipeline.emotions = CueEmotions()  # type: ignore[attr-defined]
    yield client
    client.app.state.pipeline = rules  # type: ignore[attr-defined]


def test_emotions_are_stored_and_read_back(with_emotions: TestClient) -> None:
    client = with_emotions
    posted = client.post("/v1/feedback", json={"items": [item(ANGRY, external_id="e1"), item(REVIEW_POSITIVE)]})
    assert posted.status_code == 201, posted.text
    angry_id, calm_id = (i["id"] for i in posted.json()["items"])

    angry = client.get(f"/v1/feedback/{angry_id}").json()["analysis"]
    assert angry["emotions"] == {"present": ["anger", "disgust"], "scores": {"anger": 0.91, "disgust": 0.62}}
    assert angry["model_versions"]["emotions"] == "emotions-stand-in@0.1"
    assert client.get(f"/v1/feedback/{calm_id}").json()["analysis"]["emotions"] == {"present": [], "scores": {}}
    listed = {f["id"]: f["analysis"]["emotions"] for f in client.get("/v1/feedback").json()["data"]}
    assert listed[angry_id]["present"] == ["anger", "disgust"]

    exported = list(csv.DictReader(io.StringIO(client.get("/v1/feedback/export").content.decode("utf-8-sig"))))
    assert {r["id"]: r["emotions"] for r in exported} == {str(angry_id): "anger|disgust", str(calm_id): ""}

    analyzed = client.post("/v1/analyze", json={"documents": [{"text": ANGRY}]}).json()["documents"][0]
    assert analyzed["emotions"]["present"] == ["anger", "disgust"]


def test_rule_pipeline_answers_no_emotions(client: TestClient) -> None:
    analyzed = client.post("/v1/analyze", json={"documents": [{"text": ANGRY}]}).json()["documents"][0]
    assert analyzed["emotions"] is None and "emotions" not in analyzed["model_versions"]
    posted = client.post("/v1/feedback", json={"items": [item(ANGRY)]}).json()
    assert client.get(f"/v1/feedback/{posted['items'][0]['id']}").json()["analysis"]["emotions"] is None
    exported = list(csv.DictReader(io.StringIO(client.get("/v1/feedback/export").content.decode("utf-8-sig"))))
    assert [r["emotions"] for r in exported] == [""]


def test_emotion_breakdown_counts_items_per_stage(with_emotions: TestClient) -> None:
    client = with_emotions
    items = [
        item(ANGRY, stage="support"),
        item("ふざけた対応でした。もう頼みません😡", stage="support"),
        item("丁寧に説明してもらえて助かりました。", stage="support"),
        item("ふざけてるとしか思えない値上げ。", stage="retention"),
    ]
    assert client.post("/v1/feedback", json={"items": items}).status_code == 201
    client.app.state.pipeline.emotions = None  # type: ignore[attr-defined]  # a later item scored by the rules alone
    assert client.post("/v1/feedback", json={"items": [item("ふざけるな", stage="support")]}).status_code == 201

    body = client.get("/v1/analytics/emotions").json()
    assert (body["n"], body["scored"]) == (5, 4)
    overall = {e["emotion"]: (e["n"], e["share"]) for e in body["emotions"]}
    assert list(overall) == ["joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation"]
    assert overall["anger"] == (3, 0.75) and overall["disgust"] == (3, 0.75) and overall["joy"] == (0, 0.0)
    stages = {s["stage"]: s for s in body["stages"]}
    assert [s["stage"] for s in body["stages"]] == ["support", "retention"]  # journey order
    assert (stages["support"]["n"], stages["support"]["scored"], stages["support"]["label"]) == (4, 3, "サポート")
    support = {e["emotion"]: (e["n"], e["share"]) for e in stages["support"]["emotions"]}
    assert support["anger"] == (2, round(2 / 3, 4))
    assert {e["emotion"]: e["n"] for e in stages["retention"]["emotions"]}["anger"] == 1

    only_retention = client.get("/v1/analytics/emotions", params={"stage": "retention"}).json()
    assert (only_retention["n"], only_retention["scored"]) == (1, 1)
    rows = list(
        csv.DictReader(io.StringIO(client.get("/v1/analytics/emotions?format=csv").content.decode("utf-8-sig")))
    )
    assert {"stage", "emotion", "label", "n", "share", "scored"} <= set(rows[0])
    assert len(rows) == 8 * 3  # overall, support, retention


def test_emotion_breakdown_without_scored_items_has_no_shares(client: TestClient) -> None:
    client.post("/v1/feedback", json={"items": [item(ANGRY)]})
    body = client.get("/v1/analytics/emotions").json()
    assert body["n"] == 1 and body["scored"] == 0
    assert all(e["n"] == 0 and e["share"] is None for e in body["emotions"])
