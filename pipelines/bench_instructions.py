"""CPU cost of a single-item POST /v1/feedback as instructions, counted by valgrind's callgrind: repeatable to < 1 %
on a shared machine, where the process clock of the same run wanders ±20 % (the vCPUs share a core with the
database and the client). Use it to tell whether a change to the request path saves CPU; `bench load` then says
what that buys in req/s and latency.

One uvicorn process runs under callgrind with instrumentation off; after a warm-up of 60 requests it is switched on
for --requests POSTs sent by --concurrency clients, then off. Counts are of the server process only (all its
threads: event loop, request threads), not of the database. Needs valgrind (Debian: apt-get install valgrind)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import aiohttp
import orjson

from pipelines.bench_load import (
    APP,
    JSON,
    add_database_arguments,
    server_environment,
    short_reviews,
    temporary_database,
)
from pipelines.common import ROOT, free_port, wait_ready

WARM_UP = 60
HEADERS = ["database", "concurrency", "requests", "instructions per request"]


async def post(base: str, n: int, concurrency: int, texts: Iterator[str], ids: Iterator[int]) -> None:
    """n single-item POSTs, `concurrency` at a time; every one must be stored."""
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as client:

        async def one(i: int) -> None:
            item = {"source": "bench", "external_id": f"i-{next(ids)}", "channel": "review", "text": next(texts)}
            data = orjson.dumps({"items": [{**item, "nps": i % 11}]})
            async with slots, client.post(f"{base}/v1/feedback", data=data, headers=JSON) as response:
                body = await response.read()
                if response.status != 201:
                    raise RuntimeError(f"POST answered {response.status}: {body[:200]!r}")

        await asyncio.gather(*(one(i) for i in range(n)))


def count(database_url: str, requests: int, concurrency: int, analyzer: str) -> int:
    """Instructions per request of one server process on `database_url` (migrated here)."""
    env = server_environment(database_url, analyzer)
    texts, ids = itertools.cycle(short_reviews()), itertools.count(time.time_ns())
    with tempfile.TemporaryDirectory() as tmp:
        out, log_path, port = Path(tmp) / "callgrind.out", Path(tmp) / "server.log", free_port()
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                   sys.executable, "-m", "uvicorn", APP, "--factory", "--host", "127.0.0.1", "--port", str(port),
                   "--no-access-log", "--log-level", "warning"]  # fmt: skip
        with log_path.open("wb") as log:
            server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
            try:
                base = f"http://127.0.0.1:{port}"
                wait_ready(base, server, log_path, timeout=600)  # valgrind starts Python ~20× slower
                asyncio.run(post(base, WARM_UP, concurrency, texts, ids))
                subprocess.run(["callgrind_control", "--instr=on", str(server.pid)], check=True, capture_output=True)
                asyncio.run(post(base, requests, concurrency, texts, ids))
                subprocess.run(["callgrind_control", "--instr=off", str(server.pid)], check=True, capture_output=True)
            finally:
                server.terminate()
                server.wait(timeout=120)
        return _total(out) // requests


def _total(out: Path) -> int:
    """The `totals:` line of callgrind's output (one file per process; threads are summed in it)."""
    for line in out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def run(databases: Sequence[str], requests: int, concurrencies: Sequence[int], analyzer: str,
        postgres_url: str) -> list[list[object]]:  # fmt: skip
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    rows: list[list[object]] = []
    for database in databases:
        for concurrency in concurrencies:
            with temporary_database(database, postgres_url) as url:
                rows.append([database, concurrency, requests, f"{count(url, requests, concurrency, analyzer):,}"])
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    from pipelines.common import table

    parser = argparse.ArgumentParser(
        prog="python -m pipelines.bench instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=200, help="POSTs counted, after the warm-up")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated: clients sending at once")
    parser.add_argument("--analyzer", default="rules", help="KOE_ANALYZER of the server")
    add_database_arguments(parser)
    args = parser.parse_args(argv)
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    rows = run(databases, args.requests, concurrencies, args.analyzer, args.postgres_url)
    print(f"POST /v1/feedback, one item, analyzer {args.analyzer}, one uvicorn process under callgrind")
    print(table(HEADERS, rows))
