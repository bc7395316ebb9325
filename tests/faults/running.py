"""Real koe processes for the fault tests: a uvicorn server (its embedded worker inside) or a `koe worker`, on a
database of the test's own, and the exactly-once check of what they stored."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.db.tables import Feedback, Job
from app.services.jobs import FINAL
from tests.conftest import ROOT
from tests.faults.proxy import free_port

CHUNK_ROWS = 50


def koe_env(database_url: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of a koe process under test: the fast rule analyzers, small chunks, no API key."""
    return {
        **os.environ,
        "KOE_DATABASE_URL": database_url,
        "KOE_ANALYZER": "rules",
        "KOE_AUTH_REQUIRED": "false",
        "KOE_JOB_CHUNK_ROWS": str(CHUNK_ROWS),
        "KOE_UPLOAD_DIR": str(tmp_path / "uploads"),
        "KOE_LOG_LEVEL": "WARNING",
        **overrides,
    }


class Process:
    """A koe subprocess whose output goes to a log file (a pipe nobody reads would block it when full)."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            # A session of its own: close() can then stop its children too (a Celery worker's beat process).
            self.popen = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        return self

    def signal(self, signum: int) -> float:
        """Send `signum`; returns when it was sent (time.monotonic)."""
        assert self.popen is not None
        self.popen.send_signal(signum)
        return time.monotonic()

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)

    def close(self) -> None:
        """Stop it if still running (killed if it takes too long), and whatever it started: a failed test must not
        leave processes behind."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.popen.pid, signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class Server(Process):
    """`uvicorn app.main:create_app` as deployed, on a port of its own that a restart keeps."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--port", str(self.port)]
        super().__init__(command, env, log)

    def start(self, timeout: float = 30.0) -> Server:
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.popen is not None and self.popen.poll() is None, self.output()
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready in {timeout} s:\n{self.output()}")


def worker(env: dict[str, str], log: Path) -> Process:
    return Process([sys.executable, "-m", "app.cli", "worker"], env, log).start()


def review_texts(prefix: str, rows: int) -> list[str]:
    """Distinct realistic reviews: the checksum of the stored texts then tells a lost row from a doubled one."""
    return [
        f"{prefix}の注文{i}: {'配送が早くて助かりました' if i % 3 else '届くのが遅すぎました'}。{i % 7}回目の利用です。"
        for i in range(rows)
    ]


def review_csv(texts: list[str]) -> bytes:
    """A review export as Excel writes it: CP932, CRLF."""
    lines = ["ID,本文,評価"] + [f"R-{i},{text},{i % 5 + 1}" for i, text in enumerate(texts)]
    return "\r\n".join(lines).encode("cp932")


def digest(texts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(texts)).encode()).hexdigest()


def stored_texts(engine: Engine, source: str) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(select(Feedback.text).where(Feedback.source == source)))


def assert_stored_once(engine: Engine, source: str, texts: list[str]) -> None:
    """Every text stored, none twice: the count, the distinct external ids and the checksum all agree."""
    stored = stored_texts(engine, source)
    with engine.connect() as connection:
        ids = connection.scalar(
            select(func.count(func.distinct(Feedback.external_id))).where(Feedback.source == source)
        )
    assert len(stored) == ids == len(texts)
    assert digest(stored) == digest(texts)


def job(engine: Engine, job_id: int) -> Job:
    """The job as stored now (read directly: the server may be down)."""
    with Session(engine) as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def wait_for_job(engine: Engine, job_id: int, timeout: float, *, rows_done: int | None = None) -> Job:
    """Poll until the job is finished, or (given `rows_done`) until it has stored that many rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = job(engine, job_id)
        if state.status in FINAL or (rows_done is not None and state.rows_done >= rows_done):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {state.status} after {timeout} s ({state.rows_done} rows done)")
