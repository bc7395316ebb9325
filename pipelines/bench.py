"""Benchmarks that print tables (never timed assertions).

python -m pipelines.bench pipeline   # docs/s of the analysis pipeline on 10,000 review-length texts
python -m pipelines.bench api        # p50/p95 latency of POST /v1/feedback with one item (real server)
python -m pipelines.bench ingest --rows N --database-url URL   # end-to-end upload → stored rows/s: CLI,
                                     # server + embedded worker, server + 1 and 2 Celery workers (PostgreSQL)
                                     # on one file, split into parts of --part-rows (KOE_JOB_PART_ROWS)
python -m pipelines.bench analytics --rows 1000000 --database-url postgresql+psycopg://…/koe_bench
                                     # p50/p95 of every analytics endpoint on a seeded table
python -m pipelines.bench load       # open-loop load on uvicorn --workers 2, SQLite and PostgreSQL (--help)
python -m pipelines.bench startup    # seconds from a new process to its first analysis, per installed analyzer
python -m pipelines.bench instructions   # instructions per POST /v1/feedback, counted by callgrind (--help)
python -m pipelines.bench models     # sentences/s of the trained models: encoder alone, model, whole pipeline
python -m pipelines.bench models --steady   # a service's mix, twice in one process: sentences/s, ms per request
python -m pipelines.bench            # pipeline and api
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

from app.core.config import Settings
from models.pipeline import AnalysisInput, AnalysisPipeline
from models.registry import available, build_pipeline
from pipelines import bench_analytics, bench_ingest, bench_instructions, bench_load, bench_models
from pipelines.common import ROOT, free_port, review_texts, table, wait_ready

CHUNK = 256
_worker_pipeline: AnalysisPipeline | None = None


def _init_worker(analyzer: str) -> None:
    global _worker_pipeline
    _worker_pipeline = build_pipeline(analyzer)


def _analyze_chunk(texts: list[str]) -> int:
    assert _worker_pipeline is not None
    return len(_worker_pipeline.analyze([AnalysisInput(t) for t in texts]))


def bench_pipeline(analyzer: str, n: int) -> list[list[object]]:
    texts = review_texts(n)
    chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]
    mean_chars = sum(map(len, texts)) / len(texts)
    rows: list[list[object]] = []
    for workers in sorted({1, os.cpu_count() or 1}):
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(analyzer,)) as pool:
            list(pool.map(_analyze_chunk, chunks[:workers]))  # warm-up: dictionary and lexicons loaded
            started = time.perf_counter()
            done = sum(pool.map(_analyze_chunk, chunks))
            elapsed = time.perf_counter() - started
        rows.append([analyzer, workers, done, round(mean_chars), elapsed, done / elapsed])
    return rows


def _serve(database_url: str, port: int, analyzer: str) -> subprocess.Popen[bytes]:
    # loopback only: no API key needed (PostgreSQL would require one by default)
    env = {**os.environ, "KOE_DATABASE_URL": database_url, "KOE_ANALYZER": analyzer, "KOE_AUTH_REQUIRED": "false"}
    migrate = [sys.executable, "-m", "alembic", "upgrade", "head"]
    migrated = subprocess.run(migrate, cwd=ROOT, env=env, capture_output=True, text=True)
    if migrated.returncode != 0:
        raise SystemExit(f"cannot migrate {database_url}:\n{migrated.stderr[-2000:]}")
    serve = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--port", str(port)]
    return subprocess.Popen([*serve, "--log-level", "warning"], cwd=ROOT, env=env)


def bench_api(database_url: str, requests: int, analyzer: str) -> list[object]:
    texts = review_texts(requests)
    port = free_port()
    server = _serve(database_url, port, analyzer)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, timeout=60)
        latencies = []
        with httpx.Client(base_url=base, timeout=30) as client:
            for i, text in enumerate(texts):
                item = {
                    "source": "bench",
                    "external_id": f"bench-{time.time_ns()}-{i}",
                    "channel": "review",
                    "text": text,
                    "nps": i % 11,
                }
                started = time.perf_counter()
                response = client.post("/v1/feedback", json={"items": [item]})
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
    finally:
        server.terminate()
        server.wait(timeout=10)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    backend = database_url.split(":", 1)[0]
    return [backend, requests, statistics.median(latencies), q[94], q[98], max(latencies)]


# Run in a new interpreter: what a starting server or worker pays before it can analyze.
_STARTUP_PROBE = """
import json, sys, time
started = time.perf_counter()
from models.pipeline import AnalysisInput
from models.registry import available, build_pipeline
imported = time.perf_counter()
pipeline = build_pipeline(sys.argv[1])
built = time.perf_counter()
pipeline.analyze([AnalysisInput("対応が早くて助かりました。でも値段は少し高いです。")])
done = time.perf_counter()
from pipelines.common import peak_rss_mib
print(json.dumps([imported - started, built - imported, done - built, peak_rss_mib()]))
"""


def bench_startup(analyzers: Sequence[str], repeat: int = 3) -> list[list[object]]:
    """Per analyzer, the median over `repeat` new processes (the first one warms the file cache) of: importing
    koe's analysis code, building the pipeline (loading the model), the first analysis; and the process's peak."""
    rows: list[list[object]] = []
    for analyzer in analyzers:
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            probe = [sys.executable, "-c", _STARTUP_PROBE, analyzer]
            out = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, check=True).stdout
            runs.append([time.perf_counter() - started, *json.loads(out.splitlines()[-1])])
        total, imports, build, first, rss = (statistics.median(r[k] for r in runs) for k in range(5))
        rows.append([analyzer, imports, build, first, total, round(rss)])
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["load"]:
        return bench_load.main(argv[1:])  # its own options: python -m pipelines.bench load --help
    if argv[:1] == ["instructions"]:
        return bench_instructions.main(argv[1:])
    if argv[:1] == ["models"]:
        return bench_models.main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "what",
        nargs="?",
        choices=["pipeline", "api", "ingest", "analytics", "load", "instructions", "models", "startup", "all"],
        default="all",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated upload (ingest)")
    parser.add_argument("--analyzer", default="rules")
    parser.add_argument(
        "--topology", action="append", choices=bench_ingest.TOPOLOGIES, help="ingest: which (default: all)"
    )
    parser.add_argument(
        "--part-rows",
        type=int,
        default=Settings.model_fields["job_part_rows"].default,
        help="ingest: KOE_JOB_PART_ROWS, rows per part of a split upload (0: never split)",
    )
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20, help="calls per analytics endpoint")
    parser.add_argument(
        "--database-url",
        action="append",
        default=None,
        help="database(s) for the API benchmark (default: a temporary SQLite file)",
    )
    args = parser.parse_args(argv)
    if args.what in ("pipeline", "all"):
        rows = bench_pipeline(args.analyzer, args.docs)
        print(table(["analyzer", "processes", "docs", "mean chars", "seconds", "docs/s"], rows), "\n")
    if args.what == "ingest":
        with tempfile.TemporaryDirectory() as tmp:
            urls = args.database_url or [f"sqlite:///{Path(tmp) / 'ingest.db'}"]
            # scale-out needs a shared database: Celery topologies on PostgreSQL only
            topologies = args.topology or [
                t for t in bench_ingest.TOPOLOGIES if not (t.startswith("celery") and urls[0].startswith("sqlite"))
            ]
            rows = bench_ingest.run(urls, args.rows, topologies, args.analyzer, args.part_rows)
        print(table(bench_ingest.HEADERS, rows))
    if args.what == "analytics":
        for url in args.database_url or [f"sqlite:///{ROOT / 'data' / 'bench' / 'analytics.db'}"]:
            stored, rows = bench_analytics.run(url, args.rows, args.repeat)
            print(f"{url.split(':', 1)[0]}: {stored:,} stored items, one-year range, rotating filters")
            print(table(["endpoint", "calls", "p50 ms", "p95 ms", "max ms"], rows), "\n")
    if args.what == "startup":
        headers = ["analyzer", "import s", "load model s", "first analysis s", "process total s", "peak RSS MiB"]
        print(table(headers, bench_startup(available())))
    if args.what in ("api", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            urls = args.database_url or [f"sqlite:///{Path(tmp) / 'bench.db'}"]
            rows = [bench_api(url, args.requests, args.analyzer) for url in urls]
        print(table(["database", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows))


if __name__ == "__main__":
    main()
