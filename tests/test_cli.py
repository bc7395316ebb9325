"""The `koe` command as an analyst runs it: upload a Shift_JIS export with progress, export it back for Excel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import pytest
from fastapi.testclient import TestClient

from app.cli_transfer import _follow
from app.core.config import Settings
from app.main import create_app
from tests.conftest import ROOT


def koe(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_upload_then_export_cp932(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KOE_DATABASE_URL": f"sqlite:///{tmp_path / 'koe.db'}",
        "KOE_ANALYZER": "rules",
        "KOE_UPLOAD_DIR": str(tmp_path / "uploads"),
        "PYTHONPATH": str(ROOT),
    }
    (tmp_path / "r.csv").write_bytes(
        "ID,本文,満足度\r\n1,とても良かったです,５\r\n2,最悪でした,1\r\n3,,3\r\n".encode("cp932")
    )
    assert koe("db", "upgrade", env=env, cwd=ROOT).returncode == 0
    done = koe("upload", str(tmp_path / "r.csv"), "--source", "cli", env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "succeeded: 2 created, 0 updated, 0 unchanged, 1 rejected" in done.stdout
    assert "3/3" in done.stderr  # the progress bar reached every row
    assert koe("export", "--out", str(tmp_path / "out.csv"), "--encoding", "cp932", env=env, cwd=ROOT).returncode == 0
    exported = (tmp_path / "out.csv").read_bytes().decode("cp932")
    assert "最悪でした" in exported and "とても良かったです" in exported
    assert "positive" in exported and "negative" in exported


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'koe.db'}"
    env = {**os.environ, "KOE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    assert koe("db", "upgrade", env=env, cwd=ROOT).returncode == 0
    args = ["keys", "create", "--tenant", "acme", "--scopes", "ingest,read", "--name", "店舗連携"]
    created = koe(*args, env=env, cwd=ROOT)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("koe_") and " " not in token

    listed = koe("keys", "list", "--tenant", "acme", env=env, cwd=ROOT).stdout
    assert "acme" in listed and "ingest,read" in listed and "店舗連携" in listed and token not in listed
    with TestClient(create_app(Settings(database_url=url, analyzer="rules", auth_required=True))) as client:
        assert client.get("/v1/feedback", headers={"X-API-Key": token}).status_code == 200
        assert koe("keys", "revoke", listed.split("\t")[0], env=env, cwd=ROOT).returncode == 0
        assert client.get("/v1/feedback", headers={"X-API-Key": token}).status_code == 401
    bad = koe("keys", "create", "--tenant", "acme", "--scopes", "root", env=env, cwd=ROOT)
    assert bad.returncode != 0 and "scopes" in bad.stderr


def test_rollup_rebuild_recounts_stored_items(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'koe.db'}"
    env = {**os.environ, "KOE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    assert koe("db", "upgrade", env=env, cwd=ROOT).returncode == 0
    with TestClient(create_app(Settings(database_url=url, analyzer="rules", embedded_worker=False))) as client:
        items = [{"source": "s", "external_id": str(i), "channel": "review", "text": "配送が遅い。"} for i in range(3)]
        assert client.post("/v1/feedback", json={"items": items}).status_code == 201
    rebuilt = koe("rollup", "rebuild", env=env, cwd=ROOT)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "from 3 items (calendar Asia/Tokyo)" in rebuilt.stdout


def test_progress_counts_read_in_full_and_drawn_once_per_poll(capsys: pytest.CaptureFixture[str]) -> None:
    running = {"status": "running", "rows_total": 60_000, "rows_done": 30_000, "created": 30_000, "updated": 0}
    done = running | {"status": "succeeded", "rows_done": 60_000, "created": 59_999, "updated": 1}
    jobs = [state | {"unchanged": 0, "rows_failed": 0} for state in (running, done)]
    calls = iter(jobs)
    with patch("app.cli_transfer.time.sleep"):
        assert _follow(lambda: next(calls), job_id=7)["status"] == "succeeded"
    drawn = capsys.readouterr().err
    assert "created=30,000" in drawn and "created=59,999" in drawn and "e+" not in drawn
    assert drawn.count("created=30,000") == 1  # one line per poll, not one per update of the bar
