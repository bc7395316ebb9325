"""`python -m pipelines.bench models` on the shipped koe-fast: the four stages time the same sentences, and the
encoder's counted work is that of a 4-layer, 384-wide transformer over short sentences."""

from __future__ import annotations

from pipelines import bench_models


def test_the_stages_of_koe_fast_on_corpus_sentences() -> None:
    texts = bench_models.corpus_sentences(60)
    assert len(texts) == 60 and all(t.strip() for t in texts)
    gflop = bench_models.encoder_gflop("fast", texts)
    # 4 layers × (4·384² + 2·384·1,536) multiply-adds per token ≈ 14 MFLOP; 10 to 60 tokens per framed sentence
    assert 0.1 < gflop < 1
    rows = bench_models.bench_model("fast", texts, gflop, bfloat16=False)
    assert [r[0] for r in rows] == ["fast"] * 4
    stages = [dict(zip(bench_models.HEADERS, r, strict=True)) for r in rows]
    encoder = stages[0]
    assert all(r["sentences"] == 60 and r["sentences/s"] > 0 for r in stages)
    # each rate is derived from that stage's own time (no ordering of times: on 60 sentences the stages are within
    # timing noise of each other, and speed is the benchmark's to print, not a test's to assert)
    for r in stages:
        assert r["seconds"] > 0
        assert abs(r["sentences/s"] * r["seconds"] - 60) < 1e-6
        assert abs(r["GFLOP/s"] * r["seconds"] - gflop * 60) < 1e-6
    assert len({r["stage"] for r in stages}) == 4
    assert encoder["encoder GFLOP per 1,000 sentences"] == gflop * 1000


def test_a_services_steady_state_on_koe_fast() -> None:
    rows = bench_models.steady_state("fast", 2, sentences=20, singles=5, documents=10)
    assert [r[:2] for r in rows] == [[rows[0][0], 1], [rows[0][0], 2]] and str(rows[0][0]).startswith("fast")
    for r in rows:
        found = dict(zip(bench_models.STEADY_HEADERS, r, strict=True))
        assert found["sentences/s, calls of 256"] > 0 and found["ms per one-sentence call"] > 0  # type: ignore[operator]
        assert found["seconds for the documents"] > 0 and found["peak RSS MiB so far"] > 0  # type: ignore[operator]
    assert rows[1][-1] >= rows[0][-1]  # type: ignore[operator]  # a high-water mark
