from __future__ import annotations

import base64
import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.services.export import COLUMNS
from tests.factories import CHAT, REVIEW_CONTRAST, REVIEW_NEGATIVE, REVIEW_POSITIVE, item


def post(client: TestClient, *items: dict) -> dict:
    response = client.post("/v1/feedback", json={"items": list(items)})
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_create_stores_and_analyzes(client: TestClient) -> None:
    body = post(client, item(REVIEW_NEGATIVE, nps=2, written_at="2026-11-03T14:05:00"))
    assert body["created"] == 1 and body["items"][0]["status"] == "created"
    stored = client.get(f"/v1/feedback/{body['items'][0]['id']}").json()
    assert stored["text"] == REVIEW_NEGATIVE
    assert stored["written_at"].startswith("2026-11-03T05:05:00")  # naive = Asia/Tokyo, stored as UTC
    analysis = stored["analysis"]
    assert analysis["sentiment"]["label"] == "negative"
    assert {"delivery", "support"} <= {t["id"] for t in analysis["topics"]}
    assert set(analysis["model_versions"]) == {"sentiment", "topics", "stage"}
    for sentence in analysis["sentences"]:
        assert REVIEW_NEGATIVE[sentence["offset"] : sentence["offset"] + sentence["length"]] == sentence["text"]


def test_repost_same_item_is_unchanged_and_answers_200(client: TestClient) -> None:
    payload = item(REVIEW_POSITIVE)
    first = post(client, payload)
    response = client.post("/v1/feedback", json={"items": [payload]})
    assert response.status_code == 200
    assert response.json()["items"][0] == {**first["items"][0], "status": "unchanged"}
    assert client.get("/v1/feedback", params={"source": "test_reviews"}).json()["count"] == 1


def test_repost_with_new_text_updates_and_reanalyzes(client: TestClient) -> None:
    payload = item(REVIEW_POSITIVE)
    created = post(client, payload)["items"][0]
    updated = post(client, {**payload, "text": REVIEW_NEGATIVE})["items"][0]
    assert updated == {**created, "status": "updated"}
    stored = client.get(f"/v1/feedback/{created['id']}").json()
    assert stored["text"] == REVIEW_NEGATIVE and stored["analysis"]["sentiment"]["label"] == "negative"


def test_batch_reports_each_item(client: TestClient) -> None:
    existing = item(REVIEW_POSITIVE)
    post(client, existing)
    body = post(client, existing, item(REVIEW_CONTRAST), item(CHAT, channel="chat"))
    assert [i["status"] for i in body["items"]] == ["unchanged", "created", "created"]
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 0, 1)


def test_given_stage_wins_and_prediction_is_kept(client: TestClient) -> None:
    fid = post(client, item(REVIEW_NEGATIVE, stage="サポート"))["items"][0]["id"]
    stage = client.get(f"/v1/feedback/{fid}").json()["analysis"]["stage"]
    assert stage["label"] == "support" and stage["source"] == "given"
    assert stage["predicted"] is not None


def test_touchpoint_maps_to_stage(client: TestClient) -> None:
    fid = post(client, item("とても良かったです。", touchpoint="checkout"))["items"][0]["id"]
    stage = client.get(f"/v1/feedback/{fid}").json()["analysis"]["stage"]
    assert (stage["label"], stage["source"]) == ("purchase", "touchpoint")


def test_list_filters_and_paginates(client: TestClient) -> None:
    post(
        client,
        *[item(REVIEW_NEGATIVE, segment="gold") for _ in range(3)],
        item(REVIEW_POSITIVE, segment="silver"),
    )
    page = client.get("/v1/feedback", params={"segment": "gold", "limit": 2}).json()
    assert page["count"] == 2 and page["next_cursor"]
    rest = client.get("/v1/feedback", params={"segment": "gold", "limit": 2, "cursor": page["next_cursor"]}).json()
    assert rest["count"] == 1 and rest["next_cursor"] is None
    ids = [d["id"] for d in page["data"] + rest["data"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    negatives = client.get("/v1/feedback", params={"sentiment": "negative", "topic": "delivery"}).json()
    assert negatives["count"] == 3


def test_metadata_filter(client: TestClient) -> None:
    post(
        client,
        item(REVIEW_POSITIVE, metadata={"store": "渋谷店", "sku": "A-1"}),
        item(REVIEW_POSITIVE, metadata={"store": "梅田店"}),
    )
    found = client.get("/v1/feedback", params={"meta": "store=渋谷店"}).json()
    assert found["count"] == 1 and found["data"][0]["metadata"]["sku"] == "A-1"


def test_delete(client: TestClient) -> None:
    fid = post(client, item())["items"][0]["id"]
    assert client.delete(f"/v1/feedback/{fid}").status_code == 204
    missing = client.get(f"/v1/feedback/{fid}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "feedback_not_found"


def test_same_external_id_in_other_source_is_another_item(client: TestClient) -> None:
    a = post(client, item(REVIEW_POSITIVE, external_id="X1", source="zendesk"))["items"][0]
    b = post(client, item(REVIEW_POSITIVE, external_id="X1", source="app_store"))["items"][0]
    assert a["id"] != b["id"] and b["status"] == "created"


LOG = (
    "[10:02] お客様: ログインできません。困っています😡\n"
    "[10:09] 担当者: 申し訳ございません。パスワードの再設定をお試しください。\n"
    "[10:15] お客様: できました！助かりました。\n"
)


def test_transcript_turns_customer_decides(client: TestClient) -> None:
    turns = [
        {"speaker": "customer", "text": "注文した商品が届きません。", "at": "2026-11-03T10:00:00+09:00"},
        {
            "speaker": "agent",
            "text": "大変申し訳ございません。すぐに確認いたします。",
            "at": "2026-11-03T10:04:00+09:00",
        },
        {"speaker": "customer", "text": "まだ直りませんか？もういいです。", "at": "2026-11-03T10:30:00+09:00"},
    ]
    fid = post(client, item(None, channel="chat", turns=turns))["items"][0]["id"]
    stored = client.get(f"/v1/feedback/{fid}").json()
    conversation = stored["analysis"]["conversation"]
    assert [t["speaker"] for t in conversation["turns"]] == ["customer", "agent", "customer"]
    assert conversation["first_response_seconds"] == 240 and conversation["resolved"] is False
    assert stored["analysis"]["sentiment"]["label"] == "negative"  # the agent's apology does not soften it
    for sentence in stored["analysis"]["sentences"]:
        assert stored["text"][sentence["offset"] : sentence["offset"] + sentence["length"]] == sentence["text"]
    assert not any("申し訳" in s["text"] for s in stored["analysis"]["sentences"])


def test_plain_text_chat_log_is_read_as_turns(client: TestClient) -> None:
    fid = post(client, item(LOG, channel="chat"))["items"][0]["id"]
    stored = client.get(f"/v1/feedback/{fid}").json()
    assert [t["at"] for t in stored["turns"]] == ["10:02:00", "10:09:00", "10:15:00"]
    summary = stored["analysis"]["conversation"]
    assert (summary["sentiment_start"], summary["sentiment_end"], summary["resolved"]) == ("negative", "positive", True)
    assert summary["first_response_seconds"] == 420 and summary["longest_wait_seconds"] == 420


def test_text_and_turns_together_is_an_error(client: TestClient) -> None:
    turns = [{"speaker": "customer", "text": "こんにちは"}]
    response = client.post("/v1/feedback", json={"items": [{"text": "別の本文", "turns": turns}]})
    assert response.status_code == 422 and response.json()["errors"][0]["code"] == "text_and_turns"


def test_export_csv_jsonl_xlsx(client: TestClient) -> None:
    post(client, item('=HYPERLINK("http://x")最高でした👍', segment="gold"), item(REVIEW_NEGATIVE, segment="gold"))
    utf8 = client.get("/v1/feedback/export", params={"segment": "gold"})
    assert utf8.content.startswith("\ufeff".encode()) and utf8.headers["content-type"].startswith("text/csv")
    text = utf8.content.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "👍" in text and REVIEW_NEGATIVE in text
    sjis = client.get("/v1/feedback/export", params={"encoding": "cp932"}).content.decode("cp932")
    assert "最高でした〓" in sjis  # the emoji has no CP932 spelling: visibly replaced
    lines = client.get("/v1/feedback/export", params={"format": "jsonl"}).text.splitlines()
    assert len(lines) == 2 and '"sentiment": "negative"' in lines[0] + lines[1]
    xlsx = client.get("/v1/feedback/export", params={"format": "xlsx"})
    assert xlsx.content[:2] == b"PK"


# Regressions found by tests/fuzz/test_api_schema.py: each of these answered 500 (or a misleading 503).


def test_ids_and_cursors_past_64_bits_are_422_not_500(client: TestClient) -> None:
    huge = 2**63
    for response in (client.get(f"/v1/feedback/{huge}"), client.delete(f"/v1/feedback/{huge}")):
        assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/path/feedback_id"
    cursor = base64.urlsafe_b64encode(f"id:{huge}".encode()).decode()
    assert client.get("/v1/feedback", params={"cursor": cursor}).json()["code"] == "invalid_cursor"
    assert client.get(f"/v1/feedback/{huge - 1}").status_code == 404


def test_times_outside_1900_to_2999_are_422_not_500(client: TestClient) -> None:
    for written_at in ("0001-01-01T00:00:00", "9999-12-31T23:59:59Z", "1899-12-31T23:59:59+09:00"):
        response = client.post("/v1/feedback", json={"items": [item(written_at=written_at)]})
        assert response.status_code == 422, written_at
        assert response.json()["errors"] == [
            {
                "pointer": "/items/0/written_at",
                "detail": "a time must lie between 1900-01-01 and 2999-12-31",
                "code": "date_out_of_range",
            }
        ]
    assert post(client, item(written_at="2999-12-31T23:59:59-12:00"))["created"] == 1
    filtered = client.get("/v1/feedback", params={"from": "0001-01-01T00:00:00"})
    assert filtered.status_code == 422 and filtered.json()["errors"][0]["pointer"] == "/query/from"


def test_turn_times_with_and_without_an_offset_are_one_clear_422(client: TestClient) -> None:
    turns = [
        {"speaker": "customer", "text": "届きません。", "at": "2026-11-03T10:00:00"},
        {"speaker": "agent", "text": "確認します。", "at": "2026-11-03T10:04:00+09:00"},
    ]
    response = client.post("/v1/feedback", json={"items": [{"channel": "chat", "turns": turns}]})
    assert response.status_code == 422
    assert [(e["pointer"], e["code"]) for e in response.json()["errors"]] == [("/items/0/turns", "mixed_time_offsets")]


def test_control_characters_reach_the_xlsx_export_visibly(client: TestClient) -> None:
    post(client, item("ベルが\x07鳴る\x1bレビュー", segment="ctl"))
    exported = client.get("/v1/feedback/export", params={"format": "xlsx", "segment": "ctl"})
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet.cell(row=2, column=COLUMNS.index("text") + 1).value == "ベルが␇鳴る␛レビュー"


def test_nul_characters_are_refused_before_any_database_sees_them(client: TestClient) -> None:
    body = client.post("/v1/feedback", json={"items": [item(metadata={"店舗": "渋\x00谷"})]}).json()
    assert body["errors"][0]["pointer"] == "/items/0" and "(at /metadata/店舗)" in body["errors"][0]["detail"]
    for params in ({"source": "s\x00"}, {"meta": "店\x00舗=渋谷"}):
        assert client.get("/v1/feedback", params=params).json()["code"] == "nul_character"
