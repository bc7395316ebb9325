from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import CHAT, REVIEW_CONTRAST


def analyze(client: TestClient, *texts: str) -> dict:
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]
    response = client.post("/v1/analyze", json={"documents": docs})
    assert response.status_code == 200, response.text
    return response.json()


def test_analyze_returns_every_part(client: TestClient) -> None:
    body = analyze(client, REVIEW_CONTRAST)
    doc = body["documents"][0]
    assert doc["id"] == "d0" and doc["sentiment"]["label"] == "negative"
    assert abs(sum(doc["sentiment"]["scores"].values()) - 1) < 1e-3
    assert "price" in [t["id"] for t in doc["topics"]] and "delivery" in [t["id"] for t in doc["topics"]]
    assert doc["model_versions"] == body["model_versions"]
    assert any(e["analyzer"] == "sentiment" and e["text"] in REVIEW_CONTRAST for e in doc["explanations"])
    for e in doc["explanations"]:
        assert REVIEW_CONTRAST[e["offset"] : e["offset"] + e["length"]] == e["text"]


def test_long_chat_is_split_per_turn(client: TestClient) -> None:
    doc = analyze(client, CHAT * 5)["documents"][0]
    assert len(doc["sentences"]) >= 5 * 5
    assert doc["sentences"][-1]["sentiment"]["label"] == "positive"  # 助かりました


def test_invalid_document_gets_its_own_error(client: TestClient) -> None:
    body = analyze(client, "最高でした！", "  ", "Great product, fast shipping.")
    assert [d["index"] for d in body["documents"]] == [0, 2]
    assert body["errors"] == [
        {"id": "d1", "index": 1, "code": "empty_text", "message": "text is empty or whitespace only"}
    ]
    assert body["documents"][1]["warnings"][0]["code"] == "not_japanese"


def test_too_many_documents(client: TestClient, settings) -> None:
    docs = [{"text": "良い"}] * (settings.max_analyze_documents + 1)
    response = client.post("/v1/analyze", json={"documents": docs})
    assert response.status_code == 422 and response.json()["code"] == "too_many_documents"


def test_nothing_is_stored(client: TestClient) -> None:
    analyze(client, "最悪でした。")
    assert client.get("/v1/feedback").json()["count"] == 0
