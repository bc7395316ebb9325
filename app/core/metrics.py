"""Prometheus metrics, served at GET /metrics.

Each process counts for itself: under `uvicorn --workers N` (or gunicorn) a scrape reaches one worker and sees only
its numbers, unless PROMETHEUS_MULTIPROC_DIR names an empty directory (cleared before start) that every worker
shares: then /metrics adds up all of them (prometheus_client's multiprocess mode; no process_* metrics)."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

disable_created_metrics()  # no *_created series: they double the output and no dashboard reads them

HTTP_REQUESTS = Counter(
    "koe_http_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "koe_http_request_duration_seconds",
    "time from request to the end of the response, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PROBLEMS = Counter("koe_problems_total", "problem+json error responses, by code and status", ["code", "status"])
ANALYSES = Counter("koe_analyses_total", "documents analyzed by the analysis pipeline")
INGEST_GROUP_REQUESTS = Histogram(
    "koe_ingest_group_requests",
    "POST /v1/feedback requests stored by one transaction (group commit: more under load)",
    buckets=(1, 2, 4, 8, 16, 32),
)
JOB_ROWS = Counter("koe_job_rows_total", "rows processed by jobs, by outcome", ["outcome"])

# Requests that matched no route share one label: a scan of random paths must not create a series per path.
UNMATCHED = "unmatched"


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)


def problem(code: str, status: int) -> None:
    PROBLEMS.labels(code, str(status)).inc()


def analyzed(documents: int) -> None:
    ANALYSES.inc(documents)


def job_rows(**by_outcome: int) -> None:
    """Count job rows: job_rows(created=3, failed=1)."""
    for outcome, n in by_outcome.items():
        if n:
            JOB_ROWS.labels(outcome).inc(n)


def exposition() -> tuple[bytes, str]:
    """The text exposition of this process, or of every worker in multiprocess mode; and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
