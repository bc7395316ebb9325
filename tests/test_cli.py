"""The `koe` command as an analyst runs it: upload a Shift_JIS export with progress, export it back for Excel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
