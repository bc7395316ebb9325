from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import REVIEW_NEGATIVE, REVIEW_POSITIVE, SURVEY_DETRACTOR, item


def seed(client: TestClient) -> None:
    items = [
        item(REVIEW_NEGATIVE, stage="purchase", nps=2, csat=1, ces=6, channel="review", segment="gold"),
        item(REVIEW_NEGATIVE, stage="purchase", nps=6, csat=2, channel="chat"),
        item(REVIEW_POSITIVE, stage="usage", nps=9, csat=5, ces=2, channel="review", segment="gold"),
        item(REVIEW_POSITIVE, stage="usage", nps=10, csat=4, channel="review"),
        item(REVIEW_POSITIVE, stage="usage", nps=8, channel="survey"),
        item(SURVEY_DETRACTOR, stage="retention", channel="survey"),
    ]
    assert client.post("/v1/feedback", json={"items": items}).status_code == 201


def test_journey_counts_in_stage_order(client: TestClient) -> None:
    seed(client)
    body = client.get("/v1/analytics/journey").json()
    assert body["n"] == 6
    assert [s["stage"] for s in body["stages"]] == ["purchase", "usage", "retention"]
    purchase = body["stages"][0]
    assert (purchase["label"], purchase["n"], purchase["negative"]) == ("購入", 2, 2)
    assert purchase["net_sentiment"] == -1.0 and purchase["low_n"] is True
    assert purchase["share_intervals"]["negative"][1] == 1.0 and purchase["share_intervals"]["negative"][0] < 0.5
    # overall: 2 negative (purchase) + 3 positive (usage) + 1 negative (retention) of 6
    assert body["overall"]["n"] == 6 and body["overall"]["net_sentiment"] == round(3 / 6 - 3 / 6, 4)
    usage = body["stages"][1]
    assert usage["positive"] == 3 and usage["net_sentiment"] == 1.0
    cell = next(c for c in body["cells"] if (c["stage"], c["topic"]) == ("purchase", "delivery"))
    assert cell["n"] == 2 and cell["shares"]["negative"] == 1.0
    staff = next(t for t in body["topics"] if t["topic"] == "staff")
    assert staff["name"] == "接客/スタッフ" and staff["n"] == 3


def test_journey_filters(client: TestClient) -> None:
    seed(client)
    gold = client.get("/v1/analytics/journey", params={"segment": "gold"}).json()
    assert gold["n"] == 2
    survey = client.get("/v1/analytics/journey", params={"channel": "survey", "stage": "継続/解約"}).json()
    assert survey["n"] == 1 and survey["stages"][0]["negative"] == 1
    unstaged = client.post("/v1/feedback", json={"items": [item("特にありません。")]})
    assert unstaged.status_code == 201
    none = client.get("/v1/feedback", params={"stage": "未分類"}).json()["data"]
    assert [d["text"] for d in none] == ["特にありません。"]
    assert client.get("/v1/analytics/journey", params={"stage": "none"}).json()["n"] == 1


def test_scores_match_definitions(client: TestClient) -> None:
    seed(client)
    body = client.get("/v1/analytics/scores").json()
    nps = body["overall"]["nps"]
    # 5 answers: promoters 9, 10; passive 8; detractors 2, 6 → (2 − 2) / 5 = 0
    assert (nps["n"], nps["promoters"], nps["passives"], nps["detractors"], nps["score"]) == (5, 2, 1, 2, 0.0)
    csat = body["overall"]["csat"]
    assert (csat["n"], csat["satisfied"], csat["score"]) == (4, 2, 50.0)
    assert csat["interval"][0] < 50.0 < csat["interval"][1]
    assert nps["indicative"] is True and nps["interval"][0] < 0.0 < nps["interval"][1]
    assert body["overall"]["ces"] == {"n": 2, "mean": 4.0}
    usage = next(g for g in body["by_stage"] if g["group"] == "usage")
    assert usage["nps"]["score"] == round(100 * 2 / 3, 2)
    retention = next(g for g in body["by_stage"] if g["group"] == "retention")
    assert retention["nps"] == {
        "n": 0,
        "promoters": 0,
        "passives": 0,
        "detractors": 0,
        "score": None,
        "interval": None,
        "indicative": True,
    }
    assert {g["group"] for g in body["by_channel"]} == {"review", "chat", "survey"}


def test_empty_set_answers_zeroes_not_errors(client: TestClient) -> None:
    empty = client.get("/v1/analytics/journey").json()
    assert (empty["n"], empty["stages"], empty["topics"], empty["cells"]) == (0, [], [], [])
    assert empty["overall"]["net_sentiment"] is None and empty["overall"]["share_intervals"] == {}
    assert client.get("/v1/analytics/scores").json()["overall"]["nps"]["score"] is None


def test_a_topic_filter_on_breakdowns_by_topic(client: TestClient) -> None:
    # Regression (found by tests/fuzz): the topic filter's EXISTS subquery lost its FROM when the query itself
    # joined the topics table, so every analytics view grouped by topic answered 500 under ?topic=.
    seed(client)
    body = client.get("/v1/analytics/journey", params={"topic": "delivery"}).json()
    assert body["n"] == 2 and "delivery" in {t["topic"] for t in body["topics"]}
    assert {(c["stage"], c["topic"]) for c in body["cells"]} >= {("purchase", "delivery")}
    for path in ("pain-points", "drivers", "emerging", "trends"):
        assert client.get(f"/v1/analytics/{path}", params={"topic": "delivery", "by": "topic"}).status_code == 200
