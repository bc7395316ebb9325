"""Aspect–opinion pairs travel from an aspect analyzer through storage to every reader (item, list, analyze,
export); the rule pipeline has none and answers null. The analyzer is a stand-in: the trained tagger is tested on
the model itself (tests/models/test_trained_models.py) and measured by pipelines.aspects."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from models.registry import build_pipeline
from tests.factories import CueAspects, item

MIXED = "　接客が丁寧でした！\nでも料金が高いです…"


@pytest.fixture
def with_aspects(client: TestClient) -> Iterator[TestClient]:
    rules = client.app.state.pipeline  # type: ignore[attr-defined]
    client.app.state.pipeline = build_pipeline("rules")  # type: ignore[attr-defined]
    client.app.state.pipeline.aspects = CueAspects()  # type: ignore[attr-defined]
    yield client
    client.app.state.pipeline = rules  # type: ignore[attr-defined]


def test_aspects_are_stored_and_read_back(with_aspects: TestClient) -> None:
    client = with_aspects
    posted = client.post("/v1/feedback", json={"items": [item(MIXED, external_id="a1"), item("普通でした")]})
    assert posted.status_code == 201, posted.text
    mixed_id, plain_id = (i["id"] for i in posted.json()["items"])

    stored = client.get(f"/v1/feedback/{mixed_id}").json()
    aspects = stored["analysis"]["aspects"]
    assert [(a["aspect"]["text"], a["opinion"]["text"], a["polarity"]) for a in aspects] == [
        ("接客", "丁寧", "positive"),
        ("料金", "高", "negative"),
    ]
    for a in aspects:  # offsets point into the stored text
        for span in (a["aspect"], a["opinion"]):
            assert stored["text"][span["offset"] : span["offset"] + span["length"]] == span["text"]
    assert stored["analysis"]["model_versions"]["aspects"] == "aspects-stand-in@0.1"
    assert client.get(f"/v1/feedback/{plain_id}").json()["analysis"]["aspects"] == []
    listed = {f["id"]: f["analysis"]["aspects"] for f in client.get("/v1/feedback").json()["data"]}
    assert len(listed[mixed_id]) == 2

    exported = list(csv.DictReader(io.StringIO(client.get("/v1/feedback/export").content.decode("utf-8-sig"))))
    assert {r["id"]: r["aspects"] for r in exported} == {
        str(mixed_id): "接客:positive|料金:negative",
        str(plain_id): "",
    }
    analyzed = client.post("/v1/analyze", json={"documents": [{"text": MIXED}]}).json()["documents"][0]
    assert [a["polarity"] for a in analyzed["aspects"]] == ["positive", "negative"]


def test_rule_pipeline_answers_no_aspects(client: TestClient) -> None:
    analyzed = client.post("/v1/analyze", json={"documents": [{"text": MIXED}]}).json()["documents"][0]
    assert analyzed["aspects"] is None and "aspects" not in analyzed["model_versions"]
    posted = client.post("/v1/feedback", json={"items": [item(MIXED)]}).json()
    assert client.get(f"/v1/feedback/{posted['items'][0]['id']}").json()["analysis"]["aspects"] is None


def test_aspects_are_ranked_by_mentions_or_by_criticism(with_aspects: TestClient) -> None:
    client = with_aspects
    texts = [
        "接客が丁寧！料金が高い。",
        "接客が丁寧でした",
        "ＰＣ：接客が丁寧",
        "接客が雑。料金が高い",
        "料金が高い…",
        "普通",
    ]
    posted = client.post("/v1/feedback", json={"items": [item(t) for t in texts]})
    assert posted.status_code == 201, posted.text

    ranked = client.get("/v1/analytics/aspects").json()
    assert (ranked["n"], ranked["scored"], ranked["rank_by"]) == (6, 6, "mentions")
    assert [(a["term"], a["mentions"], a["items"], a["positive"], a["negative"]) for a in ranked["aspects"]] == [
        ("接客", 4, 4, 3, 1),
        ("料金", 3, 3, 0, 3),
    ]
    criticized = client.get("/v1/analytics/aspects", params={"rank_by": "negative", "limit": 1}).json()["aspects"]
    assert [(a["term"], a["negative_share"]) for a in criticized] == [("料金", 1.0)]

    answer = client.get("/v1/analytics/aspects", params={"format": "csv"})
    table = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [(r["term"], r["negative"]) for r in table] == [("接客", "1"), ("料金", "3")]


def test_the_ranking_counts_only_analyses_that_carry_aspects(client: TestClient) -> None:
    client.post("/v1/feedback", json={"items": [item("接客が丁寧でした")]})  # the rule pipeline: no aspects
    ranked = client.get("/v1/analytics/aspects").json()
    assert (ranked["n"], ranked["scored"], ranked["aspects"]) == (1, 0, [])
    assert client.get("/v1/analytics/aspects", params={"limit": 0}).status_code == 422
