"""Evaluate koe's analyzers on data they never saw, print one table, save it as Markdown.

    python -m pipelines.evaluate [--analyzer rules accurate] [--limit N] [--markdown docs/evaluation-models.md]

Data: the real labelled reviews and sentences in ../shared/eval (read at run time, never trained or tuned
on) and the corpus *test* split (batches the models never saw; dev was used for calibration only).
Each analyzer runs in its own process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from models.analyzers import neural
from models.aspects import POLARITY_OF, gold_spans
from models.emotions import EMOTIONS
from models.pipeline import AnalysisInput, DocumentAnalysis
from models.registry import ModelOptions, available, build_pipeline, names
from models.xlmr import native_bfloat16
from pipelines import corpus
from pipelines.common import EVAL_DIR, ROOT, peak_rss_mib, read_jsonl, table
from pipelines.metrics import (
    accuracy,
    expected_calibration_error,
    f1_per_class,
    f1_per_label_sets,
    macro_f1,
    micro_f1_sets,
)

BATCH = 64


@dataclass
class Row:
    analyzer: str
    dataset: str
    task: str
    n: int
    accuracy: float | None = None
    macro_f1: float | None = None
    per_class_f1: dict[Any, float] = field(default_factory=dict)
    ece: float | None = None
    abstained: float | None = None
    per_second: float | None = None
    peak_rss_mib: float | None = None


def classified(
    name: str,
    dataset: str,
    task: str,
    gold: Sequence[str],
    predicted: Sequence[str],
    labels: Sequence[str],
    **extra: Any,
) -> Row:
    """A row of the usual single-label scores."""
    return Row(
        name,
        dataset,
        task,
        len(gold),
        accuracy(gold, predicted),
        macro_f1(gold, predicted, labels),
        f1_per_class(gold, predicted, labels),
        **extra,
    )


def analyze(pipeline: Any, texts: Sequence[str], batch: int = BATCH) -> tuple[list[DocumentAnalysis], float]:
    started, results = time.perf_counter(), []
    for i in range(0, len(texts), batch):
        results.extend(pipeline.analyze([AnalysisInput(t) for t in texts[i : i + batch]]))
    return results, len(texts) / (time.perf_counter() - started)


def confidence_ece(results: Sequence[DocumentAnalysis], gold: Sequence[str], labels: Sequence[str]) -> float:
    predicted = [r.sentiment["label"] for r in results]
    confidence = [r.sentiment["scores"][p] for r, p in zip(results, predicted, strict=True)]
    return expected_calibration_error(confidence, [p == g for p, g in zip(predicted, gold, strict=True)])


def polar_rows(name: str, dataset: str, gold: list[str], results: list[DocumentAnalysis], speed: float) -> Row:
    """Positive vs negative; a neutral or mixed answer counts as wrong and is reported as abstained."""
    return _binary_row(name, dataset, "binary pos/neg", gold, [r.sentiment["label"] for r in results], speed)


def _binary_row(
    name: str, dataset: str, task: str, gold: list[str], predicted: list[str], speed: float | None = None
) -> Row:
    labels = ["positive", "negative"]
    return Row(
        name,
        dataset,
        task,
        len(gold),
        accuracy(gold, predicted),
        macro_f1(gold, predicted, labels),
        f1_per_class(gold, predicted, labels),
        abstained=sum(p not in labels for p in predicted) / len(predicted),
        per_second=speed,
    )


def forced_rows(name: str, dataset: str, gold: list[str], results: list[DocumentAnalysis]) -> Row:
    """Positive vs negative by comparing the two probabilities, so a mixed or neutral answer still takes a side.

    The protocol of a binary benchmark for an analyzer with more classes; fixed here, not tuned on the data.
    An analyzer whose scores tie (peers answer one label) keeps its own label, which counts as wrong.
    """
    labels = ["positive", "negative"]
    predicted = []
    for r in results:
        positive, negative = r.sentiment["scores"].get("positive", 0.0), r.sentiment["scores"].get("negative", 0.0)
        predicted.append(r.sentiment["label"] if positive == negative else labels[positive < negative])
    return _binary_row(name, dataset, "binary pos/neg, forced", gold, predicted)


def real_data_rows(name: str, pipeline: Any, eval_dir: Path, limit: int | None) -> list[Row]:
    amazon = list(read_jsonl(eval_dir / "amazon-jp-reviews.jsonl", limit))
    chabsa = list(read_jsonl(eval_dir / "chabsa-sentences.jsonl", limit))
    batch = len(amazon) if isinstance(pipeline, PeerPipeline) else BATCH  # one subprocess per data set
    amazon_results, amazon_speed = analyze(pipeline, [r["text"] for r in amazon], batch)
    chabsa_results, chabsa_speed = analyze(pipeline, [r["text"] for r in chabsa], max(batch, len(chabsa)))
    gold = [r["sentiment"] for r in chabsa]
    folded = ["neutral" if r.sentiment["label"] == "mixed" else r.sentiment["label"] for r in chabsa_results]
    three = ["positive", "neutral", "negative"]
    polar = [i for i, g in enumerate(gold) if g != "neutral"]
    amazon_gold = [r["sentiment"] for r in amazon]
    polar_gold, polar_results = [gold[i] for i in polar], [chabsa_results[i] for i in polar]
    # chABSA's annotated targets (売上高, 営業利益 …) with a polarity the tagger can answer: neutral ones are left out
    targets = [
        [(o["from"], o["to"], o["polarity"]) for o in r["opinions"] if o["polarity"] != "neutral"] for r in chabsa
    ]
    return [
        polar_rows(name, "amazon-jp-reviews", amazon_gold, amazon_results, amazon_speed),
        forced_rows(name, "amazon-jp-reviews", amazon_gold, amazon_results),
        classified(name, "chabsa-sentences", "3-class", gold, folded, three, per_second=chabsa_speed),
        polar_rows(name, "chabsa (pos/neg rows)", polar_gold, polar_results, chabsa_speed),
        forced_rows(name, "chabsa (pos/neg rows)", polar_gold, polar_results),
        *aspect_rows(name, "chabsa targets", targets, [r.aspects for r in chabsa_results]),
    ]


Spans = Sequence[tuple[int, int, str]]  # (start, end, polarity) in the analyzed text


def aspect_rows(
    name: str, dataset: str, gold: Sequence[Spans], found: Sequence[list[dict[str, Any]] | None]
) -> list[Row]:
    """Aspect terms against labelled targets, for analyzers that answer aspects: exact spans (micro-F1), exact
    spans with polarity (per polarity too), and the polarity of the labelled targets a found aspect overlaps
    (`abstained`: the share of labelled targets no found aspect overlaps)."""
    if any(f is None for f in found):
        return []
    predicted = [
        [(a["aspect"]["offset"], a["aspect"]["offset"] + a["aspect"]["length"], a["polarity"]) for a in f or []]
        for f in found
    ]

    def sets(spans: Sequence[Spans], polarity: bool = True, only: str | None = None) -> list[set[str]]:
        return [{f"{s}:{e}" + (f":{p}" if polarity else "") for s, e, p in doc if only in (None, p)} for doc in spans]

    agreed: list[tuple[str, str]] = []
    for labelled, answers in zip(gold, predicted, strict=True):
        for start, end, polarity in labelled:
            overlapping = [p for s, e, p in answers if s < end and e > start]
            if overlapping:
                agreed.append((polarity, overlapping[0]))
    n = sum(map(len, gold))
    polar = ["positive", "negative"]
    return [
        Row(
            name,
            dataset,
            "aspect terms, exact span (micro-F1)",
            n,
            macro_f1=micro_f1_sets(sets(gold, False), sets(predicted, False)),
        ),
        Row(
            name,
            dataset,
            "aspect terms + polarity, exact (micro-F1)",
            n,
            macro_f1=micro_f1_sets(sets(gold), sets(predicted)),
            per_class_f1={p: micro_f1_sets(sets(gold, only=p), sets(predicted, only=p)) for p in polar},
        ),
        classified(
            name,
            dataset,
            "aspect polarity where a term overlaps",
            [g for g, _ in agreed],
            [p for _, p in agreed],
            polar,
            abstained=round(1 - len(agreed) / n, 4) if n else None,
        ),
    ]


def _gold_aligned(gold: Sequence[tuple[str, str]], result: DocumentAnalysis) -> list[str]:
    """The label koe gave each (non-blank) gold sentence of a document it analyzed whole: that of the predicted
    sentence overlapping it most (koe's splitter may cut elsewhere: a merged pair shares one label)."""
    labels, start = [], 0
    for text, _ in gold:
        end = start + len(text)
        if text.strip():
            overlap = [
                (min(end, s["offset"] + s["length"]) - max(start, s["offset"]), s["sentiment"]["label"])
                for s in result.sentences
            ]
            best = max(overlap, default=(0, "neutral"))
            labels.append(best[1] if best[0] > 0 else "neutral")
        start = end
    return labels


def corpus_rows(name: str, pipeline: Any, limit: int | None) -> list[Row]:
    test = [i for i in corpus.load()[0] if corpus.split_of(i.batch) == "test"][:limit]
    results, speed = analyze(pipeline, [i.text for i in test])
    doc_labels = ["positive", "neutral", "negative", "mixed"]
    gold, predicted = [i.sentiment for i in test], [r.sentiment["label"] for r in results]
    sentences = [(text, label) for i in test for text, label in i.sentences if text.strip()]
    sentence_results, sentence_speed = analyze(pipeline, [t for t, _ in sentences])
    sentence_gold = [label for _, label in sentences]
    sentence_pred = [r.sentences[0]["sentiment"]["label"] if r.sentences else "neutral" for r in sentence_results]
    in_context = [label for i, r in zip(test, results, strict=True) for label in _gold_aligned(i.sentences, r)]
    topic_pred = [{t["id"] for t in r.topics} - {"other"} for r in results]
    stage_pred = [r.stage["predicted"] for r in results]
    three = ["positive", "neutral", "negative"]
    return [
        classified(
            name,
            "corpus test",
            "document sentiment (4)",
            gold,
            predicted,
            doc_labels,
            ece=confidence_ece(results, gold, doc_labels),
            per_second=speed,
        ),
        classified(
            name,
            "corpus test",
            "sentence sentiment (3), alone",
            sentence_gold,
            sentence_pred,
            three,
            per_second=sentence_speed,
        ),
        classified(
            name,
            "corpus test",
            "sentence sentiment (3), in documents",
            sentence_gold,
            in_context,
            three,
        ),
        Row(
            name,
            "corpus test",
            "topics (micro-F1)",
            len(test),
            macro_f1=micro_f1_sets([set(i.topics) for i in test], topic_pred),
        ),
        Row(name, "corpus test", "journey stage", len(test), accuracy([i.stage for i in test], stage_pred)),
        *_emotion_rows(name, [set(i.emotions) for i in test], [r.emotions for r in results]),
        *_corpus_aspect_rows(name, test, results),
    ]


def _corpus_aspect_rows(name: str, test: Sequence[corpus.CorpusItem], results: Sequence[DocumentAnalysis]) -> list[Row]:
    """The test items with aspect labels (the others were not annotated for aspects)."""
    labelled = [(i, r) for i, r in zip(test, results, strict=True) if i.aspects]
    gold = [
        [(a.start, a.end, POLARITY_OF[a.kind]) for a, _ in gold_spans(i.text, i.aspects or [])] for i, _ in labelled
    ]
    return aspect_rows(name, "corpus test (aspect-labelled)", gold, [r.aspects for _, r in labelled])


def _emotion_rows(name: str, gold: Sequence[set[str]], found: Sequence[dict[str, Any] | None]) -> list[Row]:
    """Macro-F1 over the eight emotions (present or not per document), for analyzers that answer emotions."""
    if any(f is None for f in found):
        return []
    predicted = [set(f["present"]) for f in found if f is not None]
    per_emotion = f1_per_label_sets(gold, predicted, EMOTIONS)
    return [
        Row(
            name,
            "corpus test",
            "emotions (macro-F1, 8)",
            len(gold),
            macro_f1=sum(per_emotion.values()) / len(EMOTIONS),
            per_class_f1=per_emotion,
        )
    ]


DATA = ("real", "corpus")  # ../shared/eval, the corpus test split


def evaluate_one(
    name: str,
    eval_dir: Path,
    limit: int | None,
    base_model: str,
    quantize: bool = False,
    data: Sequence[str] = DATA,
    bfloat16: bool | None = None,
) -> list[dict[str, Any]]:
    """Runs in a child process: load, evaluate, and report this process's peak RSS. Rows are named by the
    arithmetic the model ran in (`accurate+bf16`, `fast+int8`; plain: float32)."""
    started = time.perf_counter()
    options = ModelOptions(base_model=base_model, quantize=quantize, bfloat16=bfloat16)
    pipeline = build_pipeline(name, options=options)
    load_seconds = time.perf_counter() - started
    name += neural.arithmetic_of(pipeline)
    rows = real_data_rows(name, pipeline, eval_dir, limit) if "real" in data else []
    rows += corpus_rows(name, pipeline, limit) if "corpus" in data else []
    peak = peak_rss_mib()
    for row in rows:
        row.peak_rss_mib = round(peak)
    print(f"{name}: loaded in {load_seconds:.2f} s, peak RSS {peak:.0f} MiB", flush=True)
    return [asdict(r) for r in rows]


PEERS_PYTHON = ROOT / "data" / "peers-venv" / "bin" / "python"
PEERS = ("asari", "oseti")


class PeerPipeline:
    """A peer analyzer behind koe's pipeline shape: document sentiment only, run in the peers' venv."""

    def __init__(self, name: str) -> None:
        self.name = name

    def analyze(self, inputs: Sequence[AnalysisInput]) -> list[DocumentAnalysis]:
        payload = "".join(json.dumps({"text": i.text}, ensure_ascii=False) + "\n" for i in inputs)
        done = subprocess.run(
            [str(PEERS_PYTHON), str(ROOT / "pipelines" / "peers.py"), self.name],
            input=payload,
            capture_output=True,
            text=True,
            check=True,
        )
        labels = [json.loads(line) for line in done.stdout.splitlines()]
        return [
            DocumentAnalysis(
                sentiment={"label": label, "scores": {label: 1.0}},
                sentences=[],
                topics=[],
                stage={"predicted": None},
                explanations=[],
                model_versions={},
            )
            for label in labels
        ]


def evaluate_peer(name: str, eval_dir: Path, limit: int | None) -> list[dict[str, Any]]:
    """Peers answer document sentiment only: the real data sets and the corpus test documents."""
    pipeline = PeerPipeline(name)
    rows = real_data_rows(name, pipeline, eval_dir, limit)
    test = [i for i in corpus.load()[0] if corpus.split_of(i.batch) == "test"][:limit]
    results, speed = analyze(pipeline, [i.text for i in test], batch=len(test))
    gold, predicted = [i.sentiment for i in test], [r.sentiment["label"] for r in results]
    labels = ["positive", "neutral", "negative", "mixed"]
    rows.append(classified(name, "corpus test", "document sentiment (4)", gold, predicted, labels, per_second=speed))
    return [asdict(r) for r in rows]


def render(rows: Sequence[dict[str, Any]]) -> str:
    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    headers = [
        "analyzer",
        "data set",
        "task",
        "n",
        "accuracy",
        "macro-F1",
        "F1 per class",
        "ECE",
        "abstained",
        "items/s",
        "peak RSS MiB",
    ]
    body = [
        [
            r["analyzer"],
            r["dataset"],
            r["task"],
            r["n"],
            fmt(r["accuracy"]),
            fmt(r["macro_f1"]),
            " ".join(f"{k[:3]} {v:.2f}" for k, v in r["per_class_f1"].items()),
            fmt(r["ece"]),
            fmt(r["abstained"]),
            "–" if r["per_second"] is None else f"{r['per_second']:,.0f}",
            r["peak_rss_mib"],
        ]
        for r in rows
    ]
    return table(headers, body)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--analyzer", nargs="+", choices=names(), default=None, help="default: all available")
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR, help="folder with the labelled JSONL files")
    parser.add_argument("--limit", type=int, default=None, help="rows per data set (default: all)")
    parser.add_argument("--base-model", default=ModelOptions().base_model)
    parser.add_argument("--no-peers", dest="peers", action="store_false", help="skip asari and oseti")
    parser.add_argument("--int8", action="store_true", help="also the trained models with int8 quantization")
    parser.add_argument(
        "--float32",
        action="store_true",
        help="also the trained models in float32 where they would run in bfloat16 (a CPU with AMX or AVX512_BF16)",
    )
    parser.add_argument(
        "--data", nargs="+", choices=DATA, default=DATA, help="real: ../shared/eval; corpus: test split"
    )
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    if not args.eval_dir.is_dir():
        parser.error(f"{args.eval_dir} not found: the evaluation data lives in ../shared/eval beside the project")
    rows: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")
    analyzers = args.analyzer or available()
    runs: list[tuple[str, bool, bool | None]] = [(name, False, None) for name in analyzers]  # (name, int8, bfloat16)
    runs += [(name, True, False) for name in analyzers if name != "rules" and args.int8]
    runs += [(name, False, False) for name in analyzers if name != "rules" and args.float32 and native_bfloat16()]
    for name, quantize, bfloat16 in runs:
        with context.Pool(1) as pool:
            job = (name, args.eval_dir, args.limit, args.base_model, quantize, args.data, bfloat16)
            rows += pool.apply(evaluate_one, job)
        print(render(rows), flush=True)  # koe's rows are shown even if a peer fails below
    if args.peers and PEERS_PYTHON.exists():
        for peer in PEERS:
            try:
                rows += evaluate_peer(peer, args.eval_dir, args.limit)
            except subprocess.CalledProcessError as exc:
                print(f"peer {peer} failed: {exc.stderr.strip().splitlines()[-1] if exc.stderr else exc}", flush=True)
    elif args.peers:
        print(f"peers skipped: {PEERS_PYTHON} missing (run `make peers`)", flush=True)
    output = render(rows)
    print(output)
    if args.markdown:
        args.markdown.write_text(f"# Evaluation\n\n`python -m pipelines.evaluate`\n\n{output}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
