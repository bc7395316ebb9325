"""The evaluation pipeline's corpus rows: every task is scored, emotions only for analyzers that answer them."""

from __future__ import annotations

import pytest

from models.registry import build_pipeline
from pipelines import evaluate


def test_rule_analyzers_get_corpus_rows_without_emotions() -> None:
    rows = evaluate.corpus_rows("rules", build_pipeline("rules"), limit=20)
    assert [r.task for r in rows] == [
        "document sentiment (4)",
        "sentence sentiment (3), alone",
        "sentence sentiment (3), in documents",
        "topics (micro-F1)",
        "journey stage",
    ]
    assert all(r.n >= 20 for r in rows) and 0.0 <= rows[0].macro_f1 <= 1.0


def test_emotion_macro_f1_averages_every_emotion() -> None:
    gold = [{"anger"}, {"joy"}, set()]
    found = [{"present": ["anger"], "scores": {}}, {"present": ["anger"], "scores": {}}, {"present": [], "scores": {}}]
    (row,) = evaluate._emotion_rows("m", gold, found)
    assert row.per_class_f1["anger"] == pytest.approx(2 / 3)  # tp 1, fp 1, fn 0
    assert row.per_class_f1["joy"] == 0.0 and row.per_class_f1["fear"] == 0.0  # no tp: 0, as in training
    assert row.macro_f1 == pytest.approx((2 / 3) / 8)
    assert evaluate._emotion_rows("rules", gold, [None, None, None]) == []


def _aspect(start: int, end: int, polarity: str) -> dict[str, object]:
    return {"aspect": {"text": "", "offset": start, "length": end - start}, "polarity": polarity}


def test_aspect_rows_score_exact_spans_polarity_and_overlaps() -> None:
    gold = [[(0, 3, "positive"), (10, 13, "negative")], [(5, 8, "negative")]]
    found = [
        [_aspect(0, 3, "positive"), _aspect(11, 13, "positive")],  # exact and right; overlapping but wrong polarity
        [_aspect(20, 22, "negative")],  # a term nobody labelled; the labelled one missed
    ]
    spans, with_polarity, overlap = evaluate.aspect_rows("m", "d", gold, found)
    assert spans.macro_f1 == pytest.approx(2 * 1 / (3 + 3))  # 1 exact span of 3 found and 3 labelled
    assert with_polarity.macro_f1 == pytest.approx(1 / 3)
    assert with_polarity.per_class_f1 == {"positive": pytest.approx(2 / 3), "negative": 0.0}
    assert (overlap.n, overlap.accuracy, overlap.abstained) == (2, 0.5, 0.3333)  # abstained rounded to 4 places
    assert evaluate.aspect_rows("rules", "d", gold, [None, None]) == []
