"""Ingest benchmark: a generated review export (CP932, CRLF, as Excel writes it; never committed) uploaded end to
end (parse → analyze → store) in each deployment topology, on the database given:

- `cli`: `koe upload FILE` straight into the database, the job run in the CLI process;
- `embedded`: `koe upload --server` to a uvicorn server whose in-process worker runs the job (`make run`);
- `celery-N`: the same server with KOE_BROKER_URL set and N `koe worker` processes, on the same one file: an upload
  of more than `--part-rows` rows (KOE_JOB_PART_ROWS) is split into parts that the workers run side by side.

Rows/s is counted from the first upload sent to the last job finished; peak RSS is each process's high-water
mark (VmHWM), read before it stops."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import psutil
import redis
from sqlalchemy import func, select

from app.db.session import make_engine
from app.db.tables import Feedback
from pipelines.common import ROOT, free_port, peak_rss_mib, review_texts, stop, wait_ready

TOPOLOGIES = ("cli", "embedded", "celery-1", "celery-2")
REDIS_DB = 13  # a database of its own on the shared Redis server
HEADERS = ["topology", "database", "rows", "parts", "seconds", "rows/s", "peak RSS MiB per process"]


def review_csv(path: Path, rows: int, first_id: int = 0) -> None:
    """A review export as Excel writes it (CP932, CRLF), from real review texts cycled to `rows` rows."""
    texts = review_texts(min(rows, 11_598))
    with path.open("w", encoding="cp932", errors="replace", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["レビューID", "投稿日", "満足度", "本文"])
        for i in range(rows):
            writer.writerow([f"B-{first_id + i}", f"2026/11/{i % 28 + 1:02d} 12:00", i % 5 + 1, texts[i % len(texts)]])


def _env(database_url: str, tmp: Path, analyzer: str, part_rows: int, broker: str | None = None) -> dict[str, str]:
    return {
        "KOE_JOB_PART_ROWS": str(part_rows),
        **os.environ,
        "KOE_DATABASE_URL": database_url,
        "KOE_ANALYZER": analyzer,
        "KOE_AUTH_REQUIRED": "false",
        "KOE_RATE_LIMIT_PER_SECOND": "0",
        "KOE_UPLOAD_DIR": str(tmp / "uploads"),
        "KOE_LOG_LEVEL": "WARNING",
        "KOE_MAX_UPLOAD_BYTES": str(2**30),  # 1,000,000 generated rows take 255 MB, past the 200 MB default
        "KOE_EMBEDDED_WORKER": "false" if broker else "true",
        **({"KOE_BROKER_URL": broker} if broker else {}),
    }


@contextmanager
def _descendant_peaks(roots: Callable[[], Sequence[int]]) -> Iterator[dict[int, int]]:
    """Peak RSS (MiB) of every process started below `roots` while the block runs (a job's analysis children
    exit with it, so they are read as they go)."""
    peaks: dict[int, int] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.25):
            for root in roots():
                try:
                    below = psutil.Process(root).children(recursive=True)
                except psutil.Error:  # gone meanwhile
                    continue
                for child in below:
                    try:
                        peaks[child.pid] = max(peaks.get(child.pid, 0), peak_rss_mib(child.pid))
                    except OSError:
                        continue

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        done.set()
        thread.join()


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        yield process
    finally:
        stop(process)


def _upload(
    files: Sequence[Path], env: dict[str, str], server: str | None, source: str, pids: list[int] | None = None
) -> tuple[float, list[int]]:
    """Upload every file at once with `koe upload` (each follows its job to the end): seconds until all finished,
    and the peak RSS (MiB) of each `koe upload` process."""

    def one(path: Path) -> int:
        command = [sys.executable, "-m", "app.cli", "upload", str(path), "--source", f"{source}-{path.stem}"]
        with tempfile.TemporaryFile() as out:
            process = subprocess.Popen(
                [*command, *(["--server", server] if server else [])], cwd=ROOT, env=env, stdout=out, stderr=out
            )
            if pids is not None:
                pids.append(process.pid)
            # VmHWM sampled while it runs: wait4's ru_maxrss would start from this (larger) process's size
            peak = 0
            while process.poll() is None:
                with suppress(OSError):  # exited between poll and read
                    peak = max(peak, peak_rss_mib(process.pid))
                time.sleep(0.25)
            out.seek(0)
            output = out.read().decode(errors="replace")
        if process.returncode != 0 or "succeeded:" not in output:
            raise SystemExit(f"upload of {path.name} failed:\n{output[-3000:]}")
        return peak

    started = time.perf_counter()
    with ThreadPoolExecutor(len(files)) as pool:
        peaks = list(pool.map(one, files))
    return time.perf_counter() - started, peaks


def bench_topology(topology: str, database_url: str, rows: int, analyzer: str, part_rows: int) -> list[object]:
    workers = int(topology.split("-")[1]) if topology.startswith("celery") else 1
    with tempfile.TemporaryDirectory() as tmp_dir, ExitStack() as stack:
        tmp = Path(tmp_dir)
        path = tmp / "reviews.csv"
        review_csv(path, rows)
        broker = f"redis://127.0.0.1:6379/{REDIS_DB}" if topology.startswith("celery") else None
        if broker:
            redis.Redis.from_url(broker).flushdb()
        env = _env(database_url, tmp, analyzer, part_rows, broker)
        source = f"bench-{topology}-{time.time_ns()}"  # new rows in every run: none is found already stored
        migrate = [sys.executable, "-m", "app.cli", "db", "upgrade"]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True, capture_output=True)
        if topology == "cli":
            uploaders: list[int] = []
            with _descendant_peaks(lambda: uploaders) as children:
                seconds, peaks = _upload([path], env, server=None, source=source, pids=uploaders)
        else:
            port = free_port()
            serve = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--port", str(port),
                     "--no-access-log", "--log-level", "warning"]  # fmt: skip
            server = stack.enter_context(_process(serve, env, tmp / "server.log"))
            processes = [server]
            for k in range(workers if broker else 0):
                worker = [sys.executable, "-m", "app.cli", "worker"]
                processes.append(stack.enter_context(_process(worker, env, tmp / f"worker-{k}.log")))
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, server, tmp / "server.log", timeout=120)
            with _descendant_peaks(lambda: [p.pid for p in processes]) as children:
                seconds, _ = _upload([path], env, server=base, source=source)
            peaks = [peak_rss_mib(p.pid) for p in processes]
    stored = _stored(database_url, source)
    if stored != rows:  # a benchmark that lost rows measures nothing
        raise SystemExit(f"{topology}: {rows:,} rows uploaded, {stored:,} stored")
    database = database_url.split(":", 1)[0].split("+")[0]
    memory = " / ".join(map(str, peaks)) + (f" (their children ≤ {max(children.values())})" if children else "")
    parts = -(-rows // part_rows) if part_rows and rows > part_rows else 1
    return [topology, database, stored, parts, seconds, stored / seconds, memory]


def _stored(database_url: str, source: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            count = select(func.count()).select_from(Feedback).where(Feedback.source.startswith(source))
            return int(connection.execute(count).scalar_one())
    finally:
        engine.dispose()


def run(
    database_urls: Sequence[str], rows: int, topologies: Sequence[str], analyzer: str, part_rows: int
) -> list[list[object]]:
    return [bench_topology(t, url, rows, analyzer, part_rows) for url in database_urls for t in topologies]
