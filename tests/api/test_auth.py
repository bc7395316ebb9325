"""API keys with auth required: 401 without a valid key, 403 without the scope, and the key admin endpoints."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.services import keys
from tests.factories import REVIEW_NEGATIVE, REVIEW_POSITIVE, api_key, item, v1_operations


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Auth on (a test may parametrize it off with indirect=True)."""
    return settings.model_copy(update={"auth_required": getattr(request, "param", True)})


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


def test_no_key_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    for method, path in [("GET", "/v1/feedback"), ("POST", "/v1/analyze"), ("GET", "/v1/analytics/scores")]:
        response = client.request(method, path)
        problem(response, 401, "missing_api_key")
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "token", ["garbage", "koe_", "koe_000000000000_", "koe_000000000000_c2VjcmV0", "Bearer koe_x_y", "koe_a_b_c"]
)
def test_a_malformed_or_unknown_key_is_401(client: TestClient, token: str) -> None:
    response = client.get("/v1/feedback", headers={"X-API-Key": token})
    problem(response, 401, "invalid_api_key")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_known_prefix_with_a_wrong_secret_is_401(client: TestClient, session: Session) -> None:
    token = api_key(session, "acme")["Authorization"].removeprefix("Bearer ")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    problem(client.get("/v1/feedback", headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_api_key")
    assert client.get("/v1/feedback", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_revoked_key_is_401(client: TestClient, session: Session) -> None:
    admin, reader = api_key(session, "acme", "admin"), api_key(session, "acme", "read")
    assert client.get("/v1/feedback", headers=reader).status_code == 200
    listed = client.get("/v1/keys", headers=admin).json()["data"]
    reader_id = next(k["id"] for k in listed if k["scopes"] == ["read"])
    assert client.delete(f"/v1/keys/{reader_id}", headers=admin).status_code == 204
    problem(client.get("/v1/feedback", headers=reader), 401, "invalid_api_key")
    assert client.delete(f"/v1/keys/{reader_id}", headers=admin).status_code == 204  # idempotent


@pytest.mark.parametrize(
    ("scope", "method", "path"),
    [
        ("read", "POST", "/v1/feedback"),
        ("read", "POST", "/v1/analyze"),
        ("read", "DELETE", "/v1/feedback/1"),
        ("read", "POST", "/v1/feedback/1/labels"),
        ("ingest", "GET", "/v1/feedback/1/labels"),
        ("read", "POST", "/v1/uploads/preview"),
        ("read", "POST", "/v1/jobs/1/cancel"),
        ("ingest", "GET", "/v1/feedback"),
        ("ingest", "GET", "/v1/feedback/1"),
        ("ingest", "GET", "/v1/feedback/export"),
        ("ingest", "GET", "/v1/jobs/1"),
        ("ingest", "GET", "/v1/analytics/journey"),
        ("ingest", "GET", "/v1/models"),
        ("ingest", "GET", "/v1/taxonomy"),
        ("read", "PUT", "/v1/taxonomy"),
        ("ingest", "DELETE", "/v1/taxonomy"),
        ("ingest", "POST", "/v1/jobs/rescore"),
        ("read", "GET", "/v1/keys"),
        ("ingest", "POST", "/v1/keys"),
    ],
)
def test_a_key_without_the_scope_is_403(
    client: TestClient, session: Session, scope: str, method: str, path: str
) -> None:
    response = client.request(method, path, headers=api_key(session, "acme", scope))
    problem(response, 403, "insufficient_scope")


def test_ingest_then_read_with_the_right_keys(client: TestClient, session: Session) -> None:
    ingest = {"X-API-Key": api_key(session, "acme", "ingest")["Authorization"].removeprefix("Bearer ")}
    read = api_key(session, "acme", "read")
    created = client.post("/v1/feedback", json={"items": [item(REVIEW_NEGATIVE, nps=2)]}, headers=ingest)
    assert created.status_code == 201, created.text
    feedback_id = created.json()["items"][0]["id"]
    assert client.get(f"/v1/feedback/{feedback_id}", headers=read).json()["text"] == REVIEW_NEGATIVE
    assert client.get("/v1/analytics/scores", headers=read).json()["overall"]["n"] == 1
    analyzed = client.post("/v1/analyze", json={"documents": [{"text": REVIEW_POSITIVE}]}, headers=ingest)
    assert analyzed.status_code == 200


def test_admin_implies_every_scope(client: TestClient, session: Session) -> None:
    admin = api_key(session, "acme", "admin")
    assert client.post("/v1/feedback", json={"items": [item()]}, headers=admin).status_code == 201
    assert client.get("/v1/feedback", headers=admin).json()["count"] == 1
    assert client.post("/v1/jobs/rescore", headers=admin).status_code == 202


def test_every_v1_operation_needs_a_key_and_a_scope(client: TestClient, session: Session) -> None:
    """Fails for a router included without the auth dependency in app/main.py, or a route without a scope."""
    _, token = keys.create(session=session, tenant_id="acme", name="no scope", scopes=[])
    for method, path in v1_operations(client):
        assert client.request(method, path).status_code == 401, f"{method} {path} answers without a key"
        scopeless = client.request(method, path, headers={"X-API-Key": token})
        assert scopeless.status_code == 403, f"{method} {path} needs no scope"


def test_health_and_docs_stay_open(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)


def test_admin_creates_lists_and_revokes_keys(client: TestClient, session: Session) -> None:
    admin = api_key(session, "acme", "admin", name="運用")
    created = client.post("/v1/keys", json={"name": "zendesk連携", "scopes": ["read", "ingest", "read"]}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["tenant_id"] == "acme" and body["scopes"] == ["ingest", "read"]
    assert body["key"].startswith(f"koe_{body['prefix']}_")
    new = {"Authorization": f"Bearer {body['key']}"}
    assert client.post("/v1/feedback", json={"items": [item()]}, headers=new).status_code == 201

    listed = client.get("/v1/keys", headers=admin).json()
    assert listed["count"] == 2 and {k["name"] for k in listed["data"]} == {"運用", "zendesk連携"}
    assert all("key" not in k and "key_hash" not in k for k in listed["data"])
    assert next(k for k in listed["data"] if k["id"] == body["id"])["last_used_at"] is not None

    assert client.delete(f"/v1/keys/{body['id']}", headers=admin).status_code == 204
    problem(client.get("/v1/feedback", headers=new), 401, "invalid_api_key")
    assert client.get("/v1/keys", headers=admin).json()["data"][1]["revoked_at"] is not None


def test_a_key_id_past_64_bits_is_422_not_500(client: TestClient, session: Session) -> None:
    # Regression found by tests/fuzz: SQLite cannot bind the id (OverflowError), PostgreSQL rejects it (DataError).
    admin = api_key(session, "acme", "admin")
    response = client.delete(f"/v1/keys/{2**63}", headers=admin)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/path/key_id"
    assert client.delete(f"/v1/keys/{2**63 - 1}", headers=admin).status_code == 404


def test_an_admin_key_creates_keys_for_its_own_tenant_only(client: TestClient, session: Session) -> None:
    admin = api_key(session, "acme", "admin")
    own = client.post("/v1/keys", json={"tenant": "acme", "name": "自社", "scopes": ["read"]}, headers=admin)
    assert own.status_code == 201
    other = client.post("/v1/keys", json={"tenant": "globex", "name": "他社", "scopes": ["admin"]}, headers=admin)
    problem(other, 403, "other_tenant")
    problem(client.post("/v1/keys", json={"name": "x", "scopes": []}, headers=admin), 422, "validation_error")
    problem(client.post("/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=admin), 422, "validation_error")


@pytest.mark.parametrize("settings", [False], indirect=True)
def test_auth_off_serves_the_default_tenant_but_still_checks_a_sent_key(client: TestClient, session: Session) -> None:
    assert client.post("/v1/feedback", json={"items": [item()]}).status_code == 201
    assert client.get("/v1/feedback").json()["count"] == 1
    problem(client.get("/v1/feedback", headers={"X-API-Key": "koe_nope_nope"}), 401, "invalid_api_key")
    assert client.get("/v1/feedback", headers=api_key(session, "acme")).json()["count"] == 0
    problem(client.get("/v1/feedback", headers=api_key(session, "default", "ingest")), 403, "insufficient_scope")


def test_auth_required_defaults_to_the_database() -> None:
    assert Settings(database_url="postgresql+psycopg://u@h/db").requires_auth is True
    assert Settings(database_url="sqlite:///koe.db").requires_auth is False
    assert Settings(database_url="sqlite:///koe.db", auth_required=True).requires_auth is True
    assert Settings(database_url="postgresql+psycopg://u@h/db", auth_required=False).requires_auth is False
