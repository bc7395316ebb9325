"""Classification metrics, written out so the evaluation has no hidden dependency."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

Labels = Sequence[Hashable]


def accuracy(gold: Labels, predicted: Labels) -> float:
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0


def f1_per_class(gold: Labels, predicted: Labels, labels: Labels) -> dict[Hashable, float]:
    scores = {}
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores[label] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return scores


def macro_f1(gold: Labels, predicted: Labels, labels: Labels) -> float:
    per_class = f1_per_class(gold, predicted, labels)
    return sum(per_class.values()) / len(per_class)


def micro_f1_sets(gold: Sequence[set[str]], predicted: Sequence[set[str]]) -> float:
    """Micro-F1 over multi-label sets: every (item, label) decision counts once."""
    tp = sum(len(g & p) for g, p in zip(gold, predicted, strict=True))
    fp = sum(len(p - g) for g, p in zip(gold, predicted, strict=True))
    fn = sum(len(g - p) for g, p in zip(gold, predicted, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def label_sets(on: Any, names: Sequence[str]) -> list[set[str]]:
    """Rows of yes/no decisions (a boolean tensor or nested lists), one column per name, as sets of names."""
    rows = on.tolist() if hasattr(on, "tolist") else on
    return [{n for n, yes in zip(names, row, strict=True) if yes} for row in rows]


def f1_per_label_sets(
    gold: Sequence[set[str]], predicted: Sequence[set[str]], labels: Sequence[str]
) -> dict[str, float]:
    """Each label's F1 over multi-label sets (present or not, per item); 0 for a label never right."""
    return {label: micro_f1_sets([{label} & g for g in gold], [{label} & p for p in predicted]) for label in labels}


def macro_f1_sets(gold: Sequence[set[str]], predicted: Sequence[set[str]], labels: Sequence[str]) -> float:
    per_label = f1_per_label_sets(gold, predicted, labels)
    return sum(per_label.values()) / len(per_label)


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 15) -> float:
    """ECE: the confidence-weighted gap between confidence and accuracy over equal-width bins."""
    total, error = len(confidence), 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidence) if lo < c <= hi or (b == 0 and c == 0)]
        if members:
            accuracy = sum(correct[i] for i in members) / len(members)
            mean_confidence = sum(confidence[i] for i in members) / len(members)
            error += len(members) / total * abs(accuracy - mean_confidence)
    return error
