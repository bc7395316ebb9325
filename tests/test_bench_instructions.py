"""`bench instructions` end to end on a few requests: a real server under callgrind, SQLite."""

from __future__ import annotations

import shutil

import pytest

from pipelines import bench_instructions

pytestmark = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")


def test_counts_the_instructions_of_real_posts() -> None:
    [row] = bench_instructions.run(["sqlite"], requests=5, concurrencies=[2], analyzer="rules", postgres_url="")
    database, concurrency, requests, per_request = row
    assert (database, concurrency, requests) == ("sqlite", 2, 5)
    # a single-item POST with the rules is several million instructions (10.2 M on PostgreSQL, 2026-11-27)
    assert 1_000_000 < int(str(per_request).replace(",", "")) < 100_000_000
