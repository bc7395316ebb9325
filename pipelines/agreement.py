"""Inter-annotator agreement: Cohen's κ between the corpus labels and a blind second labelling.

    python -m pipelines.agreement SECOND_PASS.jsonl

The second pass has one line per re-labelled item: {"id", "sentence_sentiments", "sentiment", "topics",
"stage", "emotions"}. Multi-label fields are compared label by label (one yes/no decision per label).

A second table scores the second pass as if it were a model, against the corpus labels as gold, with the metrics
the trained models are judged by (pipelines.evaluate): what two careful readings of the same guide reach is the
ceiling a model trained on these labels can be expected to approach.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from models.multitask import EMOTIONS, SENTIMENT_DOC, SENTIMENT_SENTENCE
from models.taxonomy import default_taxonomy
from pipelines import corpus
from pipelines.common import table
from pipelines.metrics import accuracy, macro_f1, macro_f1_sets, micro_f1_sets


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """κ = (p_o − p_e) / (1 − p_e) for two raters over the same items."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def binary_decisions(first: Sequence[list[str]], second: Sequence[list[str]], labels: Sequence[str]):
    a = [label in row for row in first for label in labels]
    b = [label in row for row in second for label in labels]
    return a, b


Pair = tuple[corpus.CorpusItem, dict[str, Any]]


def relabelled_pairs(second_pass: Path) -> list[Pair]:
    """(corpus item, its second-pass labels) for every re-labelled item still in the corpus."""
    items = {i.id: i for i in corpus.load()[0]}
    relabelled = [json.loads(line) for line in second_pass.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(items[r["id"]], r) for r in relabelled if r["id"] in items]


def _sentence_pairs(pairs: Sequence[Pair]) -> list[tuple[str, str]]:
    """(first, second) sentence labels, of the items both passes split into the same number of sentences."""
    return [
        (s[1], t)
        for item, r in pairs
        if len(item.sentences) == len(r["sentence_sentiments"])
        for s, t in zip(item.sentences, r["sentence_sentiments"], strict=True)
    ]


def _labels(pairs: Sequence[Pair], field: str) -> tuple[list[Any], list[Any]]:
    """One label field of every pair: (the corpus's, the second pass's); both name it the same."""
    return [getattr(item, field) for item, _ in pairs], [second[field] for _, second in pairs]


def agreement(pairs: Sequence[Pair]) -> list[list[object]]:
    topics = [t.id for t in default_taxonomy().topics]
    sentences = _sentence_pairs(pairs)
    rows: list[tuple[str, int, Sequence[Hashable], Sequence[Hashable]]] = [
        ("document sentiment", len(pairs), *_labels(pairs, "sentiment")),
        ("sentence sentiment", len(sentences), [a for a, _ in sentences], [b for _, b in sentences]),
        ("journey stage", len(pairs), *_labels(pairs, "stage")),
        ("topics (per label)", len(pairs), *binary_decisions(*_labels(pairs, "topics"), topics)),
        ("emotions (per label)", len(pairs), *binary_decisions(*_labels(pairs, "emotions"), EMOTIONS)),
    ]
    return [
        [name, n, sum(x == y for x, y in zip(a, b, strict=True)) / len(a), cohen_kappa(a, b)] for name, n, a, b in rows
    ]


def second_pass_as_model(pairs: Sequence[Pair]) -> list[list[object]]:
    """The second pass scored against the corpus labels as a model's answers would be (the evaluation's metrics;
    "other" is no topic, as there)."""
    sentences = _sentence_pairs(pairs)
    first_topics, second_topics = ([set(t) - {"other"} for t in side] for side in _labels(pairs, "topics"))
    first_emotions, second_emotions = ([set(e) for e in side] for side in _labels(pairs, "emotions"))
    return [
        ["document sentiment (4)", len(pairs), "macro-F1", macro_f1(*_labels(pairs, "sentiment"), SENTIMENT_DOC)],
        [
            "sentence sentiment (3)",
            len(sentences),
            "macro-F1",
            macro_f1([a for a, _ in sentences], [b for _, b in sentences], SENTIMENT_SENTENCE),
        ],
        ["topics", len(pairs), "micro-F1", micro_f1_sets(first_topics, second_topics)],
        ["journey stage", len(pairs), "accuracy", accuracy(*_labels(pairs, "stage"))],
        ["emotions (8)", len(pairs), "macro-F1", macro_f1_sets(first_emotions, second_emotions, EMOTIONS)],
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("second_pass", type=Path)
    args = parser.parse_args(argv)
    pairs = relabelled_pairs(args.second_pass)
    print(table(["label", "items", "raw agreement", "Cohen's κ"], agreement(pairs)))
    print()
    print("The second pass scored as a model against the corpus labels (the ceiling for a model of these labels):")
    print(table(["task", "items", "metric", "second pass"], second_pass_as_model(pairs)))


if __name__ == "__main__":
    main()
