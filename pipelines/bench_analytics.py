"""Latency of every analytics endpoint on a large stored table (seeded here, never committed).

Seeding: 3,000 texts of koe's own corpus are analyzed once by the rule pipeline; their stored analyses are then
replicated to `--rows` items with written_at spread over 13 months, varied channels, segments and NPS / CSAT
answers, and bulk-inserted (this measures aggregate queries, not the analyzers). Then each endpoint is called
`--repeat` times through the ASGI app over a one-year range with rotating filters, and p50 / p95 are printed.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session
from tqdm import tqdm

from app.core.config import Settings
from app.db.repositories import rollup
from app.db.session import make_engine
from app.db.tables import Analysis, AnalysisTopic, Feedback
from app.main import create_app
from app.services.analysis import analysis_columns, pipeline_version
from models.pipeline import AnalysisInput
from models.registry import build_pipeline
from pipelines.common import ROOT, read_jsonl

TENANT = "bench"
CHANNELS = ["review", "review", "review", "chat", "survey", "survey", "email", "call", "sns"]
SEGMENTS = [None, "gold", "silver", "new"]
BATCH = 5_000
END = datetime(2026, 11, 1, tzinfo=UTC)
ENDPOINTS = [
    ("journey", "GET", "/v1/analytics/journey", {}),
    ("scores", "GET", "/v1/analytics/scores", {}),
    ("trends week", "GET", "/v1/analytics/trends", {"interval": "week"}),
    ("trends month by topic", "GET", "/v1/analytics/trends", {"interval": "month", "by": "topic"}),
    ("pain-points", "GET", "/v1/analytics/pain-points", {}),
    ("drivers", "GET", "/v1/analytics/drivers", {}),
    ("emerging", "GET", "/v1/analytics/emerging", {}),
    ("keywords", "GET", "/v1/analytics/keywords", {}),
    ("compare", "POST", "/v1/analytics/compare", {}),
]
FILTERS: list[dict[str, str]] = [{}, {"channel": "review"}, {"channel": "chat"}, {"segment": "gold"}, {}]


def _templates(n: int) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    texts = [
        " ".join(s for s, _ in row["sentences"])
        for path in sorted((ROOT / "corpus" / "batches").glob("*.jsonl"))
        for row in read_jsonl(path)
    ]
    texts = random.Random(7).sample(texts, min(n, len(texts)))
    pipeline = build_pipeline("rules")
    results = pipeline.analyze([AnalysisInput(t) for t in texts])
    version = pipeline_version(pipeline.model_versions)
    out = []
    for t, r in zip(texts, results, strict=True):
        columns = {**analysis_columns(r), "explanations": [], "pipeline_version": version}
        out.append((t, columns, r.topics))
    return out


def _rows(templates: list[Any], start_id: int, count: int, rng: random.Random) -> Iterator[tuple[dict, dict, list]]:
    for i in range(count):
        text, columns, topics = templates[rng.randrange(len(templates))]
        ident = start_id + i
        written = END - timedelta(seconds=rng.randrange(395 * 86_400))
        negative = columns["sentiment"] in ("negative", "mixed")
        nps = rng.choice([None, None] + ([0, 2, 4, 6, 7, 8] if negative else [6, 7, 8, 9, 10, 10]))
        feedback = {
            "id": ident,
            "tenant_id": TENANT,
            "source": "bench",
            "external_id": f"b{ident}",
            "channel": CHANNELS[ident % len(CHANNELS)],
            "text": text,
            "content_hash": hashlib.sha256(f"{ident}{text}".encode()).hexdigest(),
            "written_at": written,
            "received_at": written,
            "updated_at": written,
            "nps": nps,
            "csat": rng.choice([None, None, 1, 2, 3, 4, 5]),
            "ces": None,
            "segment": SEGMENTS[ident % len(SEGMENTS)],
            "meta": {},
        }
        analysis = {"id": ident, "tenant_id": TENANT, "feedback_id": ident, "is_current": True, **columns}
        topic_rows = [
            {"analysis_id": ident, "tenant_id": TENANT, "topic": t["id"], "name": t["name"], "score": t["score"]}
            for t in topics
        ]
        yield feedback, analysis, topic_rows


def seed(engine: Engine, rows: int) -> None:
    with engine.connect() as connection:
        have = connection.execute(select(func.count()).select_from(Feedback).where(Feedback.tenant_id == TENANT))
        existing = int(have.scalar() or 0)
    if existing >= rows:
        print(f"{existing:,} bench rows already stored")
        _rebuild_rollup(engine)
        _analyze_tables(engine)
        return
    templates, rng = _templates(3_000), random.Random(existing)
    with engine.connect() as connection:
        start = int(connection.execute(select(func.coalesce(func.max(Feedback.id), 0))).scalar() or 0) + 1
    generated = _rows(templates, start, rows - existing, rng)
    with tqdm(total=rows - existing, desc="seeding", unit="rows") as bar:
        while batch := list(islice(generated, BATCH)):
            with engine.begin() as connection:
                connection.execute(insert(Feedback), [b[0] for b in batch])
                connection.execute(insert(Analysis), [b[1] for b in batch])
                connection.execute(insert(AnalysisTopic), [t for b in batch for t in b[2]])
            bar.update(len(batch))
    _rebuild_rollup(engine)
    _analyze_tables(engine)


def _analyze_tables(engine: Engine) -> None:
    """Planner statistics and, on PostgreSQL, the visibility map for the new rows: what autovacuum would have done
    by the time a real table holds this much (bulk loads outpace it), so that index-only scans are measured."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for table in ("feedback", "analysis"):
                connection.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:  # VACUUM needs it
        connection.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))


def _rebuild_rollup(engine: Engine) -> None:
    """Bulk inserts bypass the service that keeps the rollup exact: count the rows into it once."""
    started = time.perf_counter()
    with Session(engine) as session:
        counted = rollup.rebuild(session, zone=rollup.zone(), tenant_id=TENANT)
        session.commit()
    print(f"rollup rebuilt from {counted:,} items in {time.perf_counter() - started:.1f} s")


def measure(database_url: str, repeat: int) -> list[list[object]]:
    settings = Settings(
        database_url=database_url, analyzer="rules", embedded_worker=False, default_tenant=TENANT, auth_required=False
    )
    app = create_app(settings)
    year = {"from": "2025-11-01T00:00:00", "to": "2026-11-01T00:00:00"}
    rows: list[list[object]] = []
    with TestClient(app) as client:
        for name, method, path, params in ENDPOINTS:
            latencies = []
            for i in range(repeat + 1):
                extra = FILTERS[i % len(FILTERS)]
                started = time.perf_counter()
                if method == "POST":
                    body = {"a": {**year, "channel": "review"}, "b": {**year, "channel": "chat"}}
                    response = client.post(path, json=body)
                else:
                    response = client.get(path, params={**year, **params, **extra})
                elapsed = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                if i == 0 and extra == {} and path.endswith("journey"):
                    assert response.json()["n"] > 0, "the benchmark range holds no items"
                if i:  # the first call warms caches and is not counted
                    latencies.append(elapsed)
            q = statistics.quantiles(latencies, n=20, method="inclusive") if len(latencies) > 1 else latencies * 19
            rows.append([name, len(latencies), statistics.median(latencies), q[18], max(latencies)])
    return rows


def run(database_url: str, rows: int, repeat: int) -> tuple[int, list[list[object]]]:
    if database_url.startswith("sqlite"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "head")
    engine = make_engine(database_url)
    seed(engine, rows)
    with engine.connect() as connection:
        stored = int(connection.execute(select(func.count()).select_from(Feedback)).scalar() or 0)
    engine.dispose()
    return stored, measure(database_url, repeat)
