"""Shared by the pipeline CLIs: where the read-only evaluation data lives, how tables are printed, and what the
benchmarks share."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT.parent / "shared" / "eval"  # read at run time only: never copied, never trained on


def read_jsonl(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if limit is not None and i >= limit:
                return
            if line.strip():
                yield json.loads(line)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table: readable in a terminal and pasteable into docs."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]

    def line(values):
        return "| " + " | ".join(str(v).ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def free_port() -> int:
    """A loopback port nobody listens on, for a server a benchmark starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def review_texts(n: int) -> list[str]:
    """`n` real review-length texts (shared/eval's Amazon reviews, cycled) for timing only: labels unused."""
    texts = [r["text"] for r in read_jsonl(EVAL_DIR / "amazon-jp-reviews.jsonl")]
    return (texts * (n // len(texts) + 1))[:n]


def wait_ready(
    base: str, process: subprocess.Popen[bytes], log: Path | None = None, *, timeout: float = 90.0, in_a_row: int = 1
) -> None:
    """Poll a server a benchmark started until /readyz answers 200 `in_a_row` times (with several uvicorn workers,
    a few in a row: every worker has most likely finished loading); its log's tail if it dies or never does."""
    deadline, ready = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and process.poll() is None:
        try:
            ready = ready + 1 if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 else 0
        except httpx.TransportError:
            ready = 0
        if ready >= in_a_row:
            return
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log else "(see its output above)"
    raise SystemExit(f"the server at {base} did not become ready:\n{tail}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server or worker a benchmark started in a session of its own (start_new_session=True): SIGTERM, so
    that it shuts down as deployed (uvicorn's supervisor stops its workers, Celery its beat), then the whole
    session killed if it takes longer than 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the session this benchmark started, and nothing else
            process.wait(timeout=5)


def peak_rss_mib(pid: int | str = "self") -> int:
    """The high-water mark of a process's resident set (VmHWM). Unlike getrusage's ru_maxrss, which Linux carries
    across exec, it starts afresh in a new program: a child started by a 2 GB parent does not report 2 GB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0
