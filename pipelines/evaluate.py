"""Evaluate koe's sentiment on real labelled Japanese text it never saw (../shared/eval), print a table.

python -m pipelines.evaluate [--analyzer rules] [--limit N] [--json docs/evaluation-rules.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from models.pipeline import AnalysisInput
from models.registry import build_pipeline, names
from pipelines.common import EVAL_DIR, read_jsonl, table
from pipelines.metrics import accuracy, f1_per_class, macro_f1

BATCH = 256


@dataclass
class Result:
    dataset: str
    task: str
    n: int
    accuracy: float
    macro_f1: float
    per_class_f1: dict[str, float]
    abstained: float  # share answered neutral/mixed where the task has no such class
    docs_per_s: float


def predict(analyzer: str, texts: Sequence[str]) -> tuple[list[str], float]:
    pipeline = build_pipeline(analyzer)
    labels: list[str] = []
    started = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        results = pipeline.analyze([AnalysisInput(t) for t in texts[i : i + BATCH]])
        labels.extend(r.sentiment["label"] for r in results)
    return labels, len(texts) / (time.perf_counter() - started)


def binary(dataset: str, gold: list[str], predicted: list[str], speed: float) -> Result:
    """Positive vs negative: neutral or mixed answers count as wrong, and their share is reported."""
    labels = ["positive", "negative"]
    abstained = sum(p not in labels for p in predicted) / len(predicted)
    return Result(
        dataset,
        "binary pos/neg",
        len(gold),
        accuracy(gold, predicted),
        macro_f1(gold, predicted, labels),
        f1_per_class(gold, predicted, labels),
        abstained,
        speed,
    )


def three_class(dataset: str, gold: list[str], predicted: list[str], speed: float) -> Result:
    labels = ["positive", "neutral", "negative"]
    folded = ["neutral" if p == "mixed" else p for p in predicted]  # the data set has no mixed class
    return Result(
        dataset,
        "3-class",
        len(gold),
        accuracy(gold, folded),
        macro_f1(gold, folded, labels),
        f1_per_class(gold, folded, labels),
        0.0,
        speed,
    )


def evaluate(analyzer: str, eval_dir: Path, limit: int | None) -> list[Result]:
    amazon = list(read_jsonl(eval_dir / "amazon-jp-reviews.jsonl", limit))
    chabsa = list(read_jsonl(eval_dir / "chabsa-sentences.jsonl", limit))
    amazon_pred, amazon_speed = predict(analyzer, [r["text"] for r in amazon])
    chabsa_pred, chabsa_speed = predict(analyzer, [r["text"] for r in chabsa])
    chabsa_gold = [r["sentiment"] for r in chabsa]
    polar = [i for i, g in enumerate(chabsa_gold) if g != "neutral"]
    return [
        binary("amazon-jp-reviews", [r["sentiment"] for r in amazon], amazon_pred, amazon_speed),
        three_class("chabsa-sentences", chabsa_gold, chabsa_pred, chabsa_speed),
        binary(
            "chabsa-sentences (pos/neg only)",
            [chabsa_gold[i] for i in polar],
            [chabsa_pred[i] for i in polar],
            chabsa_speed,
        ),
    ]


def render(analyzer: str, results: list[Result]) -> str:
    rows = [
        [
            r.dataset,
            r.task,
            r.n,
            r.accuracy,
            r.macro_f1,
            " ".join(f"{k[:3]}={v:.3f}" for k, v in r.per_class_f1.items()),
            r.abstained,
            r.docs_per_s,
        ]
        for r in results
    ]
    headers = ["data set", "task", "n docs", "accuracy", "macro-F1", "F1 per class", "abstained", "docs/s"]
    return f"analyzer: {analyzer} (sentiment, document level)\n\n" + table(headers, rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--analyzer", default="rules", choices=names())
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR, help="folder with the labelled JSONL files")
    parser.add_argument("--limit", type=int, default=None, help="rows per data set (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    args = parser.parse_args(argv)
    if not args.eval_dir.is_dir():
        parser.error(f"{args.eval_dir} not found: the evaluation data lives in ../shared/eval beside the project")
    results = evaluate(args.analyzer, args.eval_dir, args.limit)
    print(render(args.analyzer, results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
