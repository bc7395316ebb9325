"""Request ids, JSON log lines and Prometheus metrics, through the HTTP API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.main import create_app
from models.pipeline import AnalysisPipeline
from tests.api.test_uploads import ROWS, cp932_csv, drain
from tests.factories import REVIEW_CONTRAST, item

SECRET_TEXT = "この文は絶対にログに出てはいけない個人的な感想です"


@pytest.fixture
def settings(migrated_engine: Engine, tmp_path: Path) -> Settings:
    url = migrated_engine.url.render_as_string(hide_password=False)
    return Settings(
        database_url=url, analyzer="rules", embedded_worker=False, auth_required=False, upload_dir=str(tmp_path)
    )


def sample(client: TestClient, name: str, **labels: str) -> float:
    """The value of one series on /metrics (0 when it does not exist yet)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a:42"})
    assert response.headers["X-Request-ID"] == "lb-7f3a:42"


@pytest.mark.parametrize("sent", [None, "x" * 129, "has space", "改行\ninjected", ""])
def test_request_id_is_generated_when_missing_or_not_a_sane_token(client: TestClient, sent: str | None) -> None:
    headers = {"X-Request-ID": sent.encode()} if sent is not None else {}
    first = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    second = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


def test_problem_body_carries_the_request_id(client: TestClient) -> None:
    response = client.post("/v1/feedback", json={"items": [{"text": " "}]}, headers={"X-Request-ID": "req-422"})
    assert response.status_code == 422
    assert response.json()["request_id"] == "req-422" == response.headers["X-Request-ID"]


def test_access_log_is_one_json_line_with_the_request_id_and_no_text(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    body = {"items": [item(SECRET_TEXT)]}
    assert client.post("/v1/feedback", json=body, headers={"X-Request-ID": "trace-1"}).status_code == 201
    logged = capsys.readouterr().err
    access = [line for line in log_lines(logged) if line["logger"] == "koe.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "trace-1" and line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/v1/feedback", 201)
    assert line["duration_ms"] >= 0 and line["ts"].endswith("Z")
    assert SECRET_TEXT not in logged


def test_text_log_format(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(create_app(settings.model_copy(update={"log_format": "text"}))) as client:
        capsys.readouterr()
        client.get("/healthz", headers={"X-Request-ID": "plain-1"})
    assert re.search(r"INFO koe\.access \[plain-1\] GET /healthz 200 [0-9.]+ ms", capsys.readouterr().err)


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    created = {"method": "POST", "route": "/v1/feedback", "status": "201"}
    invalid = {"method": "POST", "route": "/v1/feedback", "status": "422"}
    missing = {"method": "GET", "route": "/v1/feedback/{feedback_id}", "status": "404"}
    before = {
        "created": sample(client, "koe_http_requests_total", **created),
        "invalid": sample(client, "koe_http_requests_total", **invalid),
        "missing": sample(client, "koe_http_requests_total", **missing),
        "problems": sample(client, "koe_problems_total", code="validation_error", status="422"),
        "analyses": sample(client, "koe_analyses_total"),
        "latency": sample(client, "koe_http_request_duration_seconds_count", method="POST", route="/v1/feedback"),
    }
    assert client.post("/v1/feedback", json={"items": [item(REVIEW_CONTRAST)]}).status_code == 201
    assert client.post("/v1/feedback", json={"items": [{"text": " ", "nps": 11}]}).status_code == 422
    assert client.get("/v1/feedback/987654321").status_code == 404
    assert sample(client, "koe_http_requests_total", **created) == before["created"] + 1
    assert sample(client, "koe_http_requests_total", **invalid) == before["invalid"] + 1
    assert sample(client, "koe_http_requests_total", **missing) == before["missing"] + 1
    assert sample(client, "koe_problems_total", code="validation_error", status="422") == before["problems"] + 1
    assert sample(client, "koe_analyses_total") == before["analyses"] + 1
    latency = sample(client, "koe_http_request_duration_seconds_count", method="POST", route="/v1/feedback")
    assert latency == before["latency"] + 2
    assert "987654321" not in client.get("/metrics").text  # raw paths never become label values


def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    before = sample(client, "koe_http_requests_total", method="GET", route="unmatched", status="404")
    for path in ("/wp-login.php", "/v2/anything", "/.env"):
        assert client.get(path).status_code == 404
    assert sample(client, "koe_http_requests_total", method="GET", route="unmatched", status="404") == before + 3


def test_metrics_need_no_key_and_are_not_rate_limited(settings: Settings) -> None:
    strict = settings.model_copy(update={"auth_required": True, "rate_limit_per_second": 0.01, "rate_limit_burst": 1})
    with TestClient(create_app(strict)) as client:
        assert client.get("/v1/feedback").status_code == 401
        assert all(client.get("/metrics").status_code == 200 for _ in range(5))


def test_job_rows_are_counted_by_outcome(
    client: TestClient, session: Session, settings: Settings, pipeline: AnalysisPipeline
) -> None:
    before = {o: sample(client, "koe_job_rows_total", outcome=o) for o in ("created", "failed")}
    response = client.post(
        "/v1/uploads", files={"file": ("reviews.csv", cp932_csv(ROWS))}, data={"source": "metrics_survey"}
    )
    assert response.status_code == 202
    assert drain(session, settings, pipeline) == 1
    assert sample(client, "koe_job_rows_total", outcome="created") == before["created"] + 3
    assert sample(client, "koe_job_rows_total", outcome="failed") == before["failed"] + 3
