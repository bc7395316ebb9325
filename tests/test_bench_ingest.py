"""The ingest benchmark runs its topologies for real (small here) and counts what it measured as stored."""

from __future__ import annotations

from pathlib import Path

from pipelines import bench_ingest


def test_the_embedded_topologies_store_every_row_they_time(tmp_path: Path) -> None:
    rows = bench_ingest.run([f"sqlite:///{tmp_path / 'ingest.db'}"], 300, ["cli", "embedded"], "rules", part_rows=120)
    assert [(r[0], r[2], r[3]) for r in rows] == [("cli", 300, 3), ("embedded", 300, 3)]  # split: 120 + 120 + 60
    for row in rows:
        seconds, rate, peaks = row[4], row[5], str(row[6])
        assert seconds > 0 and rate == 300 / seconds  # type: ignore[operator]
        assert all(int(peak) > 50 for peak in peaks.split(" / "))  # a real process's resident set, in MiB


def test_a_generated_export_is_what_excel_writes(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    bench_ingest.review_csv(path, 3, first_id=10)
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == 4  # header and three rows, CRLF
    lines = raw.decode("cp932").splitlines()
    assert lines[0] == "レビューID,投稿日,満足度,本文"
    assert [line.split(",")[0] for line in lines[1:]] == ["B-10", "B-11", "B-12"]
