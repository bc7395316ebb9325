from __future__ import annotations

from fastapi.testclient import TestClient


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_database_migrations_and_models(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["migrations"]["current"] == checks["migrations"]["head"] is not None
    assert set(checks["models"]["versions"]) == {"sentiment", "topics", "stage"}


def test_openapi_has_japanese_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/v1/feedback" in schema["paths"]
    assert "届きません" in str(schema["components"]["schemas"]["FeedbackBatchCreate"])


def test_models_lists_rules_as_active(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    rules = next(m for m in body["data"] if m["name"] == "rules")
    assert rules["active"] and rules["available"]
    assert set(rules["model_versions"]) == {"sentiment", "topics", "stage"}
    assert {m["name"] for m in body["data"]} >= {"rules", "accurate"}
