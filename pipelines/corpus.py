"""The koe VoC corpus: validate every item, report its make-up and near-duplicates, split it by writing batch.

    python -m pipelines.corpus            # validate + stats + near-duplicates + splits → data/corpus/*.jsonl

Splits are assigned per batch file (never per row), so a test item is never a sibling of a training item
written in the same sitting; the nearest-neighbour similarity between splits is printed to prove it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from datasketch import MinHash, MinHashLSH
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.journey import STAGES
from models.taxonomy import default_taxonomy
from pipelines.common import ROOT, table

CORPUS_DIR = ROOT / "corpus" / "batches"
OUT_DIR = ROOT / "data" / "corpus"
Sentiment = Literal["positive", "neutral", "negative"]
EMOTIONS = {"joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation"}
SHINGLE = 5
NEAR_DUPLICATE = 0.6


class CorpusItem(BaseModel):
    """One labelled item; the format is documented in docs/corpus-format.md."""

    model_config = ConfigDict(extra="forbid")

    id: str
    industry: str
    channel: Literal["review", "chat", "survey", "email", "call", "sns", "other"]
    style: Literal["polite", "casual", "slang", "dialect"] = Field(alias="register")  # BaseModel owns `register`
    scenario: str
    question: str | None = None
    scores: dict[Literal["nps", "csat", "ces"], int] | None = None
    sentences: list[tuple[str, Sentiment]] = Field(min_length=1)
    sentiment: Literal["positive", "neutral", "negative", "mixed"]
    topics: list[str]
    stage: str
    emotions: list[str]
    aspects: list[tuple[str, str, Sentiment]] | None = None

    @model_validator(mode="after")
    def _labels_known(self) -> CorpusItem:
        topics = {t.id for t in default_taxonomy().topics}
        problems = [f"topic {t!r}" for t in self.topics if t not in topics]
        problems += [f"emotion {e!r}" for e in self.emotions if e not in EMOTIONS]
        problems += [f"stage {self.stage!r}"] if self.stage not in STAGES else []
        problems += [f"aspect {a!r} not in text" for a in self.aspects or [] if a[0] not in self.text]
        if problems:
            raise ValueError("unknown or inconsistent labels: " + ", ".join(problems))
        return self

    @property
    def text(self) -> str:
        return "".join(sentence for sentence, _ in self.sentences)

    @property
    def batch(self) -> str:
        return self.id.rsplit("-", 1)[0]


def load(directory: Path = CORPUS_DIR) -> tuple[list[CorpusItem], list[str]]:
    """Every valid item, and one message per invalid line (file:line: reason)."""
    items, errors = [], []
    for path in sorted(directory.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(CorpusItem.model_validate_json(line))
            except ValidationError as exc:
                errors.append(f"{path.name}:{number}: {exc.errors()[0]['msg']}")
    return items, errors


def shingles(text: str) -> set[str]:
    compact = "".join(text.split())
    return {compact[i : i + SHINGLE] for i in range(max(1, len(compact) - SHINGLE + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def minhash(grams: set[str]) -> MinHash:
    m = MinHash(num_perm=64, seed=7)
    m.update_batch([g.encode() for g in grams])
    return m


def near_duplicate_pairs(items: Sequence[CorpusItem]) -> list[tuple[str, str, float]]:
    """Pairs with character-5-gram Jaccard above 0.6: MinHash LSH candidates, verified exactly."""
    grams = [shingles(item.text) for item in items]
    lsh = MinHashLSH(threshold=NEAR_DUPLICATE * 0.8, num_perm=64)
    pairs = []
    for i, g in enumerate(grams):
        signature = minhash(g)
        for j in lsh.query(signature):
            score = jaccard(g, grams[j])
            if score > NEAR_DUPLICATE:
                pairs.append((items[j].id, items[i].id, round(score, 3)))
        lsh.insert(i, signature)
    return pairs


def split_of(batch: str) -> str:
    """80 / 10 / 10 by a stable hash of the batch name."""
    bucket = int(hashlib.sha256(batch.encode()).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


def nearest_train_similarity(items: Sequence[CorpusItem], split: str) -> list[float]:
    """For each item of `split`, the highest Jaccard to any training item (LSH candidates above 0.3)."""
    train = [shingles(i.text) for i in items if split_of(i.batch) == "train"]
    lsh = MinHashLSH(threshold=0.3, num_perm=64)
    for k, g in enumerate(train):
        lsh.insert(k, minhash(g))
    scores = []
    for item in (i for i in items if split_of(i.batch) == split):
        g = shingles(item.text)
        scores.append(max((jaccard(g, train[k]) for k in lsh.query(minhash(g))), default=0.0))
    return scores


def write_splits(items: Iterable[CorpusItem], out_dir: Path) -> Counter[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    handles = {s: (out_dir / f"{s}.jsonl").open("w", encoding="utf-8") for s in ("train", "dev", "test")}
    counts: Counter[str] = Counter()
    for item in items:
        split = split_of(item.batch)
        handles[split].write(
            json.dumps({**item.model_dump(by_alias=True), "text": item.text}, ensure_ascii=False) + "\n"
        )
        counts[split] += 1
    for handle in handles.values():
        handle.close()
    return counts


def report(items: Sequence[CorpusItem]) -> str:
    lengths = [len(i.text) for i in items]
    bins = [(1, 15), (16, 50), (51, 150), (151, 400), (401, 999), (1000, 10**9)]
    rows = [
        ["items", len(items)],
        ["industries", len({i.industry for i in items})],
        ["with aspects", sum(bool(i.aspects) for i in items)],
        *[[f"length {lo}–{hi if hi < 10**9 else ''}", sum(lo <= n <= hi for n in lengths)] for lo, hi in bins],
    ]
    for field in ("channel", "style", "sentiment", "stage", "industry"):
        counts = Counter(getattr(i, field) for i in items)
        rows.append([field, ", ".join(f"{k} {v}" for k, v in counts.most_common())])
    return table(["what", "count"], rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    items, errors = load(args.corpus)
    print(report(items), "\n")
    for message in errors[:50]:
        print("invalid:", message)
    pairs = near_duplicate_pairs(items)
    print(
        f"near-duplicate pairs (5-gram Jaccard > {NEAR_DUPLICATE}): {len(pairs)}; "
        f"items involved: {len({p for pair in pairs for p in pair[:2]})} of {len(items)} "
        f"({len({p for pair in pairs for p in pair[:2]}) / max(1, len(items)):.2%})"
    )
    counts = write_splits(items, args.out)
    print("splits:", dict(counts))
    for split in ("dev", "test"):
        sims = sorted(nearest_train_similarity(items, split))
        if sims:
            close = sum(s > NEAR_DUPLICATE for s in sims)
            print(
                f"{split}: nearest-train 5-gram Jaccard p50 {sims[len(sims) // 2]:.3f}, "
                f"p95 {sims[int(len(sims) * 0.95)]:.3f}, max {sims[-1]:.3f}; "
                f"{close} of {len(sims)} items ({close / len(sims):.2%}) above {NEAR_DUPLICATE}"
            )
    if errors:
        raise SystemExit(f"{len(errors)} invalid item(s)")


if __name__ == "__main__":
    main()
