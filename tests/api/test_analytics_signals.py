"""Trends, pain points, drivers, emerging issues, keywords, compare and CSV: known answers on small data sets."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import item

LATE_DELIVERY = "注文から1週間たっても届きません。配送が遅すぎて本当に困っています😡"
RUDE_SUPPORT = "サポートに電話したけど、対応が失礼で最悪でした。"
KIND_STAFF = "スタッフの方の接客がとても丁寧で、気持ちよく買い物ができました！"
APP_CRASH = "アプリがすぐ落ちる。ログインもできないし使い物にならない…"


def post(client: TestClient, items: list[dict[str, Any]]) -> None:
    response = client.post("/v1/feedback", json={"items": items})
    assert response.status_code == 201, response.text


def test_trend_buckets_follow_the_tokyo_calendar(client: TestClient) -> None:
    # 23:30 UTC on 2 Nov is 08:30 on 3 Nov in Tokyo; 14:59 UTC is 23:59 JST, 15:00 UTC is 00:00 JST next day.
    post(
        client,
        [
            item(KIND_STAFF, written_at="2026-11-02T23:30:00Z", nps=10),
            item(LATE_DELIVERY, written_at="2026-11-03T14:59:00Z", nps=0),
            item(LATE_DELIVERY, written_at="2026-11-03T15:00:00Z", nps=3),
            item(KIND_STAFF, written_at="2026-11-06T10:00:00+09:00", nps=9),
        ],
    )
    body = client.get("/v1/analytics/trends", params={"interval": "day"}).json()
    assert body["timezone"] == "Asia/Tokyo"
    points = body["series"][0]["points"]
    assert [p["period"] for p in points] == ["2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06"]
    assert [p["n"] for p in points] == [2, 1, 0, 1]  # the empty day is shown, not skipped
    assert points[0]["nps"]["score"] == 0.0 and points[1]["nps"]["score"] == -100.0
    assert points[0]["change"] is None and points[1]["change"]["n"] == -1 and points[1]["change"]["nps"] == -100.0
    assert points[2]["nps"]["score"] is None and points[3]["change"]["nps"] is None

    utc = client.get("/v1/analytics/trends", params={"interval": "day", "timezone": "UTC"}).json()
    assert [p["period"] for p in utc["series"][0]["points"]][:2] == ["2026-11-02", "2026-11-03"]
    weekly = client.get("/v1/analytics/trends", params={"interval": "week"}).json()
    assert [(p["period"], p["n"]) for p in weekly["series"][0]["points"]] == [("2026-11-02", 4)]  # Monday
    monthly = client.get("/v1/analytics/trends", params={"interval": "month"}).json()
    assert monthly["series"][0]["points"][0]["period"] == "2026-11-01"


def test_trends_per_topic_and_empty_set(client: TestClient) -> None:
    assert client.get("/v1/analytics/trends").json()["series"] == []
    post(client, [item(LATE_DELIVERY, written_at="2026-10-01T12:00:00+09:00"), item(KIND_STAFF)])
    body = client.get("/v1/analytics/trends", params={"by": "topic", "interval": "month"}).json()
    series = {s["key"]: s for s in body["series"]}
    assert {"delivery", "staff"} <= series.keys()
    assert series["delivery"]["name"] == "配送"
    assert sum(p["n"] for p in series["delivery"]["points"]) == 1


def test_unknown_time_zone_is_a_clear_422(client: TestClient) -> None:
    response = client.get("/v1/analytics/trends", params={"timezone": "Mars/Olympus"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/query/timezone"


def test_pain_points_rank_negative_volume_with_quotes(client: TestClient) -> None:
    late = [
        item(LATE_DELIVERY + "（" + str(i) + "回目）", written_at=f"2026-11-{10 + i}T12:00:00+09:00") for i in range(4)
    ]
    post(client, [*late, item(RUDE_SUPPORT, written_at="2026-11-12T12:00:00+09:00"), item(KIND_STAFF)])
    body = client.get(
        "/v1/analytics/pain-points", params={"from": "2026-11-01T00:00:00", "to": "2026-12-01T00:00:00"}
    ).json()
    top = body["items"][0]
    assert top["topic"] == "delivery" and top["negative"] == 4 and top["previous_n"] == 0
    assert top["negative_change"] == 4
    assert body["previous"]["start"] == "2026-10-01T15:00:00Z"  # the 30 days before 1 Nov 00:00 JST
    assert 1 <= len(top["quotes"]) <= 3
    assert all("届きません" in q["text"] or "配送" in q["text"] for q in top["quotes"])
    # "…（0回目）" and "…（1回目）" say the same thing: only one of them is quoted.
    assert len({q["text"][:10] for q in top["quotes"]}) == len(top["quotes"])
    assert all(len(q["text"]) <= 120 for q in top["quotes"])


def test_stage_topic_pain_points_quote_their_own_cell(client: TestClient) -> None:
    at = "2026-11-12T12:00:00+09:00"
    purchase = "購入時の配送日指定ができず、届くのが遅すぎました。"
    support = "配送の遅れを問い合わせたら、サポートの返事が遅すぎて困りました。"
    post(
        client,
        [
            item(purchase, stage="購入", written_at=at),
            item(support, stage="サポート", written_at=at),
        ],
    )
    params = {"from": "2026-11-01T00:00:00", "to": "2026-12-01T00:00:00", "by": "stage_topic"}
    items = client.get("/v1/analytics/pain-points", params=params).json()["items"]
    cells = {(i["stage"], i["topic"]): [q["text"] for q in i["quotes"]] for i in items}
    assert cells[("purchase", "delivery")] == [purchase]
    assert cells[("support", "delivery")] == [support]


def test_pain_points_rank_by_change_against_the_previous_period(client: TestClient) -> None:
    before = [item(RUDE_SUPPORT, written_at=f"2026-10-{10 + i}T12:00:00+09:00") for i in range(3)]
    now = [item(LATE_DELIVERY, written_at=f"2026-11-{10 + i}T12:00:00+09:00") for i in range(2)]
    post(client, [*before, *now, item(RUDE_SUPPORT, written_at="2026-11-15T12:00:00+09:00")])
    params = {"from": "2026-11-01T00:00:00", "to": "2026-11-30T00:00:00", "rank_by": "change"}
    body = client.get("/v1/analytics/pain-points", params=params).json()
    assert body["items"][0]["topic"] == "delivery" and body["items"][0]["negative_change"] == 2
    support = next(i for i in body["items"] if i["topic"] == "support")
    assert support["previous_negative"] == 3 and support["negative_change"] == -2


def test_drivers_compare_nps_with_and_without_each_topic(client: TestClient) -> None:
    # delivery: nps 0, 2, 10 → NPS (1 − 2)/3 = −33.33; without: 10, 9, 8 → (2 − 0)/3 = 66.67
    post(
        client,
        [
            item(LATE_DELIVERY, nps=0),
            item(LATE_DELIVERY, nps=2),
            item(LATE_DELIVERY, nps=10),
            item(KIND_STAFF, nps=10),
            item(KIND_STAFF, nps=9),
            item(KIND_STAFF, nps=8),
            item(KIND_STAFF),  # no score: not a respondent
        ],
    )
    body = client.get("/v1/analytics/drivers").json()
    assert body["target"] == "nps" and body["n"] == 6
    delivery = next(d for d in body["items"] if d["topic"] == "delivery")
    assert (delivery["n_with"], delivery["n_without"]) == (3, 3)
    assert delivery["score_with"] == -33.33 and delivery["score_without"] == 66.67
    assert delivery["difference"] == -100.0
    assert delivery["difference_interval"][0] < -100.0 < delivery["difference_interval"][1]
    assert delivery["detractor_rate_with"] == round(2 / 3, 4) and delivery["detractor_rate_without"] == 0.0
    assert delivery["low_n"] is True
    assert body["regression"] is None  # 6 respondents cannot carry a regression
    assert body["items"][0]["topic"] == "delivery"  # the most negative driver first


def test_drivers_regression_runs_when_n_allows(client: TestClient) -> None:
    no_topic = "特にありません。"
    items = [item(LATE_DELIVERY, nps=i % 4) for i in range(40)] + [item(no_topic, nps=9 + i % 2) for i in range(60)]
    post(client, items)
    body = client.get("/v1/analytics/drivers").json()
    assert body["regression"] is not None and body["regression"]["n"] == 100
    delivery = next(d for d in body["items"] if d["topic"] == "delivery")
    # Every delivery answer is a detractor and every other one a promoter: −100 vs +100 on the ±100 scale.
    assert delivery["coefficient"] == pytest.approx(-200.0, abs=0.5)
    csat = client.get("/v1/analytics/drivers", params={"target": "csat"}).json()
    assert csat["target"] == "csat" and csat["n"] == 0 and csat["regression"] is None


def test_emerging_flags_a_new_delivery_problem(client: TestClient) -> None:
    baseline = [item(KIND_STAFF, written_at=f"2026-10-{5 + i % 20:02d}T12:00:00+09:00") for i in range(40)]
    baseline += [item(LATE_DELIVERY, written_at="2026-10-10T12:00:00+09:00")]
    recent = [item(LATE_DELIVERY, written_at=f"2026-11-{1 + i % 6:02d}T12:00:00+09:00") for i in range(12)]
    recent += [item(KIND_STAFF, written_at="2026-11-02T12:00:00+09:00") for _ in range(8)]
    post(client, baseline + recent)
    body = client.get("/v1/analytics/emerging", params={"to": "2026-11-08T00:00:00"}).json()
    assert "Benjamini" in body["test"]
    delivery = next(e for e in body["items"] if e["kind"] == "topic" and e["key"] == "delivery")
    assert delivery["flagged"] is True and "volume" in delivery["reasons"]
    assert (delivery["recent_n"], delivery["baseline_n"]) == (12, 1)
    assert delivery["recent_share"] == 0.6 and delivery["volume_p"] < 0.05
    staff = next(e for e in body["items"] if e["kind"] == "topic" and e["key"] == "staff")
    assert staff["flagged"] is False
    assert body["items"][0]["flagged"] is True


def test_keywords_characterize_a_segment_against_the_rest(client: TestClient) -> None:
    post(
        client,
        [item(APP_CRASH, channel="sns") for _ in range(6)] + [item(KIND_STAFF, channel="review") for _ in range(6)],
    )
    body = client.get("/v1/analytics/keywords", params={"channel": "sns"}).json()
    assert (body["documents"], body["rest_documents"]) == (6, 6)
    terms = [t["term"] for t in body["terms"]]
    assert "アプリ" in terms and "落ちる" in terms and "丁寧" not in terms
    assert all(t["z"] > 0 for t in body["terms"])
    assert any({p["a"], p["b"]} == {"アプリ", "落ちる"} and p["count"] == 6 for p in body["pairs"])
    hidden = client.get("/v1/analytics/keywords", params={"channel": "sns", "stopwords": ["アプリ"]}).json()
    assert "アプリ" not in [t["term"] for t in hidden["terms"]]


def test_compare_two_channels(client: TestClient) -> None:
    post(
        client,
        [item(APP_CRASH, channel="sns", nps=2) for _ in range(3)]
        + [item(KIND_STAFF, channel="review", nps=10) for _ in range(3)],
    )
    body = client.post(
        "/v1/analytics/compare",
        json={"a": {"channel": "sns", "label": "アプリ"}, "b": {"channel": "review"}},
    ).json()
    assert body["a"]["label"] == "アプリ" and body["b"]["label"] == "B"
    assert body["a"]["scores"]["nps"]["score"] == -100.0 and body["b"]["scores"]["nps"]["score"] == 100.0
    assert body["nps_difference"] == -200.0
    assert body["net_sentiment_difference"] < 0
    assert body["terms"]["terms"][0]["term"] in {"アプリ", "落ちる", "ログイン", "使い物"}
    bad = client.post("/v1/analytics/compare", json={"a": {"chanel": "app"}, "b": {}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"].endswith("chanel")


def test_score_range_filters(client: TestClient) -> None:
    post(client, [item(LATE_DELIVERY, nps=n) for n in (0, 3, 6, 7, 9, 10)])
    detractors = client.get("/v1/analytics/scores", params={"nps_max": 6}).json()
    assert detractors["overall"]["nps"]["n"] == 3 and detractors["overall"]["nps"]["score"] == -100.0
    assert client.get("/v1/analytics/scores", params={"nps_min": 11}).status_code == 422


@pytest.mark.parametrize(
    "path",
    ["journey", "scores", "trends", "pain-points", "drivers", "emerging", "keywords"],
)
def test_csv_has_the_json_numbers(client: TestClient, path: str) -> None:
    post(
        client,
        [item(LATE_DELIVERY, nps=i % 11, written_at=f"2026-11-{1 + i % 20:02d}T12:00:00+09:00") for i in range(30)]
        + [item(KIND_STAFF, nps=9, written_at=f"2026-10-{1 + i:02d}T12:00:00+09:00") for i in range(20)],
    )
    url = f"/v1/analytics/{path}"
    as_json = client.get(url).json()
    response = client.get(url, params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    if path == "journey":
        stage_rows = [r for r in rows if r["level"] == "stage"]
        assert [int(r["n"]) for r in stage_rows] == [s["n"] for s in as_json["stages"]]
        assert [float(r["net_sentiment"]) for r in stage_rows] == [s["net_sentiment"] for s in as_json["stages"]]
    elif path == "scores":
        assert float(rows[0]["nps.score"]) == as_json["overall"]["nps"]["score"]
        assert float(rows[0]["nps.interval_low"]) == as_json["overall"]["nps"]["interval"][0]
    elif path == "trends":
        points = as_json["series"][0]["points"]
        assert [int(r["n"]) for r in rows] == [p["n"] for p in points]
    elif path == "keywords":
        assert [r["term"] for r in rows if r["kind"] == "term"] == [t["term"] for t in as_json["terms"]]
    else:
        assert len(rows) == len(as_json["items"]) > 0
        key = "topic" if path != "emerging" else "key"
        assert [r[key] for r in rows] == [i[key] for i in as_json["items"]]


def test_far_periods_are_a_clear_422_and_the_widest_allowed_one_works(client: TestClient) -> None:
    # Regression (found by tests/fuzz): from=1013-… sent the previous period of pain points before year 1 (500).
    post(client, [item("配送が遅すぎる。最悪です", written_at="2026-11-03T10:00:00")])
    far = client.get("/v1/analytics/pain-points", params={"from": "1013-01-01T00:00:00Z"})
    assert far.status_code == 422 and far.json()["errors"][0]["code"] == "date_out_of_range"
    widest = {"from": "1900-01-01T00:00:00Z", "to": "2999-12-31T00:00:00Z"}
    body = client.get("/v1/analytics/pain-points", params=widest).json()
    assert body["previous"]["start"] < "1900" and body["items"][0]["topic"] == "delivery"
    assert client.get("/v1/analytics/emerging", params={"to": "1900-01-01T00:00:00"}).status_code == 200
    compare = client.post("/v1/analytics/compare", json={"a": {"from": "0001-01-01T00:00:00"}, "b": {}})
    assert compare.status_code == 422 and compare.json()["errors"][0]["pointer"] == "/a/from"
