"""Analysts' label corrections: stored with the analysis they correct, validated against the tenant's taxonomy and
the label sets, kept in order, gone with their item."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_taxonomy import HOTEL
from tests.factories import REVIEW_CONTRAST, REVIEW_NEGATIVE, item


def stored(client: TestClient, text: str = REVIEW_NEGATIVE) -> int:
    response = client.post("/v1/feedback", json={"items": [item(text)]})
    assert response.status_code == 201, response.text
    return int(response.json()["items"][0]["id"])


def test_corrections_are_kept_in_order_with_the_analysis_they_correct(client: TestClient) -> None:
    fid = stored(client, REVIEW_CONTRAST)  # 値段は安いけど、配送が遅すぎる。
    first = client.post(
        f"/v1/feedback/{fid}/labels",
        json={"sentiment": "negative", "topics": ["delivery", "price", "delivery"], "emotions": ["anger"]},
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["feedback_id"] == fid and body["analysis_id"] is not None
    assert (body["sentiment"], body["topics"], body["stage"], body["emotions"]) == (
        "negative",
        ["delivery", "price"],  # a repeated topic counts once
        None,  # not corrected: stays unknown, not "no stage"
        ["anger"],
    )
    second = client.post(f"/v1/feedback/{fid}/labels", json={"stage": "購入", "topics": []}).json()
    assert second["stage"] == "purchase" and second["topics"] == [] and second["sentiment"] is None

    listed = client.get(f"/v1/feedback/{fid}/labels").json()
    assert listed["count"] == 2 and [x["id"] for x in listed["data"]] == [body["id"], second["id"]]
    # the item's own analysis is not rewritten by a correction
    assert client.get(f"/v1/feedback/{fid}").json()["analysis"]["sentiment"]["label"] == "negative"


def test_bad_corrections_are_422_with_the_field(client: TestClient) -> None:
    fid = stored(client)
    cases = {
        "unknown_topic": {"topics": ["delivery", "breakfast"]},
        "value_error": {},
        "literal_error": {"sentiment": "angry"},
        "extra_forbidden": {"sentiment": "negative", "score": 1},
    }
    for code, payload in cases.items():
        response = client.post(f"/v1/feedback/{fid}/labels", json=payload)
        assert response.status_code == 422, (payload, response.text)
        assert code in response.text, response.text
    unknown = client.post(f"/v1/feedback/{fid}/labels", json={"topics": ["delivery", "breakfast"]}).json()
    assert [(e["pointer"], e["code"]) for e in unknown["errors"]] == [("/topics/1", "unknown_topic")]
    assert client.get(f"/v1/feedback/{fid}/labels").json()["count"] == 0  # nothing half-stored


def test_topics_follow_the_tenants_active_taxonomy(client: TestClient) -> None:
    fid = stored(client, "部屋は広いけど朝食のバイキングが残念。")
    assert client.put("/v1/taxonomy", content=HOTEL.encode()).status_code == 200
    assert client.post(f"/v1/feedback/{fid}/labels", json={"topics": ["breakfast", "room"]}).status_code == 201
    assert client.post(f"/v1/feedback/{fid}/labels", json={"topics": ["delivery"]}).status_code == 422


def test_missing_items_and_deleted_items_have_no_labels(client: TestClient) -> None:
    assert client.post("/v1/feedback/987654321/labels", json={"sentiment": "neutral"}).status_code == 404
    fid = stored(client)
    assert client.post(f"/v1/feedback/{fid}/labels", json={"sentiment": "negative"}).status_code == 201
    assert client.delete(f"/v1/feedback/{fid}").status_code == 204
    assert client.get(f"/v1/feedback/{fid}/labels").status_code == 404
    assert client.post(f"/v1/feedback/{fid}/labels", json={"sentiment": "negative"}).status_code == 404
