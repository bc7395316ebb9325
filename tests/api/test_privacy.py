"""PII redaction through the API: nothing redacted reaches storage, analysis answers, exports or logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.core.config import Settings
from tests.factories import item

PHONE = "090-1234-5678"
EMAIL = "tanaka.hanako@example.jp"
COMPLAINT = (
    f"配送が遅すぎます。担当の佐藤さんに{PHONE}へ折り返しをお願いしましたが、連絡がありません。{EMAIL}にも返信なし😡"
)


def test_redaction_is_off_by_default(client: TestClient) -> None:
    assert client.get("/v1/privacy").json() == {"pii_redaction": "off", "source": "default", "custom_types": []}
    created = client.post("/v1/feedback", json={"items": [item(COMPLAINT)]}).json()["items"][0]
    assert PHONE in client.get(f"/v1/feedback/{created['id']}").json()["text"]


def test_masked_text_is_what_gets_stored_analyzed_and_exported(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.put("/v1/privacy", json={"pii_redaction": "mask"}).json()["source"] == "tenant"
    with caplog.at_level(logging.DEBUG):
        created = client.post("/v1/feedback", json={"items": [item(COMPLAINT, nps=1)]}).json()["items"][0]
    stored = client.get(f"/v1/feedback/{created['id']}").json()
    assert "〔電話番号〕" in stored["text"] and "〔メールアドレス〕" in stored["text"] and "〔氏名〕" in stored["text"]
    leaks = (PHONE, EMAIL, "佐藤")
    assert not any(secret in str(stored) for secret in leaks)  # text, sentences, explanations
    assert stored["analysis"]["sentiment"]["label"] == "negative"  # masks do not hide the complaint
    exported = client.get("/v1/feedback/export", params={"format": "jsonl"}).text
    assert not any(secret in exported for secret in leaks)
    quotes = client.get("/v1/analytics/pain-points").json()
    assert quotes["items"] and not any(secret in str(quotes) for secret in leaks)
    assert not any(secret in record.getMessage() for record in caplog.records for secret in leaks)


def test_analyze_answers_never_show_what_was_redacted(client: TestClient) -> None:
    client.put("/v1/privacy", json={"pii_redaction": "mask"})
    body = client.post("/v1/analyze", json={"documents": [{"text": COMPLAINT}]}).json()
    assert not any(secret in str(body) for secret in (PHONE, EMAIL, "佐藤"))
    assert body["documents"][0]["sentiment"]["label"] == "negative"


def test_transcript_turns_are_redacted_and_the_text_is_their_rendering(client: TestClient) -> None:
    client.put("/v1/privacy", json={"pii_redaction": "mask"})
    turns = [
        {"speaker": "customer", "text": f"電話番号は{PHONE}です。至急折り返してください。"},
        {"speaker": "agent", "text": "承知しました。担当の鈴木がご連絡いたします。"},
    ]
    created = client.post("/v1/feedback", json={"items": [item(None, channel="chat", turns=turns)]}).json()
    stored = client.get(f"/v1/feedback/{created['items'][0]['id']}").json()
    assert PHONE not in str(stored) and "鈴木" not in str(stored)
    assert stored["turns"][0]["text"] == "電話番号は〔電話番号〕です。至急折り返してください。"
    assert stored["text"].startswith("お客様: 電話番号は〔電話番号〕です。")


def test_hash_mode_needs_a_key_and_links_equal_values(client: TestClient, settings: Settings) -> None:
    refused = client.put("/v1/privacy", json={"pii_redaction": "hash"})
    assert refused.status_code == 422 and refused.json()["code"] == "hash_key_missing"
    settings.pii_hash_key = "test-secret"
    assert client.put("/v1/privacy", json={"pii_redaction": "hash"}).status_code == 200
    texts = [f"{PHONE}に電話ください", "０９０－１２３４－５６７８に電話ください", "03-9876-5432に電話ください"]
    ids = [o["id"] for o in client.post("/v1/feedback", json={"items": [item(t) for t in texts]}).json()["items"]]
    stored = [client.get(f"/v1/feedback/{i}").json()["text"] for i in ids]
    assert stored[0] == stored[1] != stored[2]  # the same number, however written, gets the same token
    assert stored[0].startswith("〔電話番号:") and PHONE not in stored[0]


def test_hash_without_a_key_is_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="KOE_PII_HASH_KEY"):
        Settings(pii_redaction="hash", pii_hash_key="")


def test_custom_patterns_redact_order_numbers(client: TestClient, settings: Settings) -> None:
    settings.pii_patterns = {"注文番号": r"ORD-\d{8}"}
    client.put("/v1/privacy", json={"pii_redaction": "mask"})
    created = client.post("/v1/feedback", json={"items": [item("注文番号ORD-20261103の商品が届きません")]}).json()
    assert (
        client.get(f"/v1/feedback/{created['items'][0]['id']}").json()["text"]
        == "注文番号〔注文番号〕の商品が届きません"
    )
    assert client.get("/v1/privacy").json()["custom_types"] == ["注文番号"]


def test_unknown_mode_is_a_clear_422(client: TestClient) -> None:
    response = client.put("/v1/privacy", json={"pii_redaction": "encrypt"})
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/pii_redaction"
