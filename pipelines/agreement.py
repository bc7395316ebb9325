"""Inter-annotator agreement: Cohen's κ between the corpus labels and a blind second labelling.

    python -m pipelines.agreement SECOND_PASS.jsonl

The second pass has one line per re-labelled item: {"id", "sentence_sentiments", "sentiment", "topics",
"stage", "emotions"}. Multi-label fields are compared label by label (one yes/no decision per label).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Hashable, Sequence
from pathlib import Path

from models.multitask import EMOTIONS
from models.taxonomy import default_taxonomy
from pipelines import corpus
from pipelines.common import table


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


def agreement(second_pass: Path) -> list[list[object]]:
    items = {i.id: i for i in corpus.load()[0]}
    relabelled = [json.loads(line) for line in second_pass.read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs = [(items[r["id"]], r) for r in relabelled if r["id"] in items]
    topics = [t.id for t in default_taxonomy().topics]
    sentences = [
        (s[1], t)
        for item, r in pairs
        if len(item.sentences) == len(r["sentence_sentiments"])
        for s, t in zip(item.sentences, r["sentence_sentiments"], strict=True)
    ]
    rows: list[tuple[str, int, Sequence[Hashable], Sequence[Hashable]]] = [
        ("document sentiment", len(pairs), [i.sentiment for i, _ in pairs], [r["sentiment"] for _, r in pairs]),
        ("sentence sentiment", len(sentences), [a for a, _ in sentences], [b for _, b in sentences]),
        ("journey stage", len(pairs), [i.stage for i, _ in pairs], [r["stage"] for _, r in pairs]),
        (
            "topics (per label)",
            len(pairs),
            *binary_decisions([i.topics for i, _ in pairs], [r["topics"] for _, r in pairs], topics),
        ),
        (
            "emotions (per label)",
            len(pairs),
            *binary_decisions([i.emotions for i, _ in pairs], [r["emotions"] for _, r in pairs], EMOTIONS),
        ),
    ]
    return [
        [name, n, sum(x == y for x, y in zip(a, b, strict=True)) / len(a), cohen_kappa(a, b)] for name, n, a, b in rows
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("second_pass", type=Path)
    args = parser.parse_args(argv)
    print(table(["label", "items", "raw agreement", "Cohen's κ"], agreement(args.second_pass)))


if __name__ == "__main__":
    main()
