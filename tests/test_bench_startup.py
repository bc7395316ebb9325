"""`python -m pipelines.bench startup` measures a real new process per analyzer."""

from __future__ import annotations

from pipelines import bench


def test_startup_of_the_rules_pipeline_in_a_new_process() -> None:
    [row] = bench.bench_startup(["rules"], repeat=1)
    analyzer, imports, build, first, total, rss = row
    assert analyzer == "rules"
    assert 0 < imports < total and 0 < build < total and 0 < first < total
    assert imports + build + first < total  # the interpreter's own start is in the total only
    assert 50 < rss < 2_000  # MiB of a process that loaded fugashi's dictionary and the lexicons
