"""Score models.pii on a labelled split: precision / recall / F1 per PII type, micro totals, gold counts.

    python -m pipelines.evaluate_pii [--split dev|test] [--show-errors]

Data: corpus/pii/{split}.jsonl, one {"text", "spans": [{"start", "end", "type"}]} per line. dev is the set the rules
were tuned on; test is written separately without seeing the code and is the honest measurement.

Matching rule: a predicted span is correct (a true positive) when it has the same type as a gold span and overlaps
it by at least one character; each gold span can be matched at most once, so two predictions over one gold span
count one true positive and one false positive. Unmatched predictions are false positives, unmatched gold spans
false negatives.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.pii import PII_TYPES, PiiDetector, PiiSpan
from pipelines.common import ROOT, read_jsonl, table

CORPUS = ROOT / "corpus" / "pii"


@dataclass(frozen=True, slots=True)
class Gold:
    start: int
    end: int
    type: str


@dataclass
class Tally:
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    gold: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def match(gold: Sequence[Gold], predicted: Sequence[PiiSpan]) -> tuple[list[PiiSpan], list[PiiSpan], list[Gold]]:
    """(true positives, false positives, false negatives) under the same-type, ≥ 1 character overlap rule."""
    free = list(gold)
    hits, misses = [], []
    for span in predicted:
        partner = next((g for g in free if g.type == span.type and g.start < span.end and span.start < g.end), None)
        if partner is None:
            misses.append(span)
        else:
            free.remove(partner)
            hits.append(span)
    return hits, misses, free


def score(path: Path, detector: PiiDetector) -> Tally:
    tally = Tally()
    for row in read_jsonl(path):
        text = row["text"]
        gold = [Gold(s["start"], s["end"], s["type"]) for s in row["spans"]]
        hits, false_pos, false_neg = match(gold, detector.find(text))
        tally.gold.update(g.type for g in gold)
        tally.tp.update(s.type for s in hits)
        tally.fp.update(s.type for s in false_pos)
        tally.fn.update(g.type for g in false_neg)
        tally.errors += [f"FP {s.type:<11} {s.text!r:<32} in {text}" for s in false_pos]
        tally.errors += [f"FN {g.type:<11} {text[g.start : g.end]!r:<32} in {text}" for g in false_neg]
    return tally


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def report(tally: Tally) -> str:
    """Markdown table; precision (recall) of a type with no predictions (no gold spans) is shown as 1.000."""
    types = [*PII_TYPES, *sorted(set(tally.fp) - set(PII_TYPES))]
    rows = [
        [t, *_prf(tally.tp[t], tally.fp[t], tally.fn[t]), tally.gold[t], tally.tp[t], tally.fp[t], tally.fn[t]]
        for t in types
    ]
    totals = (sum(tally.tp.values()), sum(tally.fp.values()), sum(tally.fn.values()))
    rows.append(["**micro**", *_prf(*totals), sum(tally.gold.values()), *totals])
    return table(["type", "precision", "recall", "F1", "gold", "TP", "FP", "FN"], rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--show-errors", action="store_true", help="list false positives and false negatives")
    args = parser.parse_args(argv)
    tally = score(CORPUS / f"{args.split}.jsonl", PiiDetector())
    print(report(tally))
    if args.show_errors:
        print("\n" + "\n".join(sorted(tally.errors)) if tally.errors else "\nno errors")


if __name__ == "__main__":
    main()
