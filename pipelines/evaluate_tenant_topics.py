"""How much a tenant's corrections teach its topics, and what the encoder's similarity to topic descriptions adds.

`python -m pipelines.evaluate_tenant_topics` plays a tenant with the default taxonomy: n items of the corpus dev split
are its corrections (3 random draws per n), the test split is what it analyzes next. A head fitted on the
corrections' document vectors (as `pipelines.train --tenant` fits it, threshold 0.5, nothing tuned) adds its topics
to the keyword rules. Two sources of vectors:
- the base e5 encoder: it never saw a topic label, so this is what a tenant's *new* topics can expect;
- koe-accurate: its vectors learned these very topics, so its numbers are optimistic for new ones.
Zero-shot: a topic is found where the cosine between a sentence (or the document) and the topic's label and
description, minus the mean over topics, passes a threshold chosen on dev; it is measured alone and as a fallback for
items with no keyword hit.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from models import multitask
from models.analyzers.neural import NeuralModel, infer_documents
from models.analyzers.tenant_topics import THRESHOLD
from models.analyzers.topic_rules import RuleTopicAnalyzer
from models.document import prepare
from models.encoder import load_encoder
from models.registry import ARTIFACTS, DEFAULT_BASE_MODEL
from models.taxonomy import OTHER_TOPIC, Taxonomy, default_taxonomy
from pipelines import corpus
from pipelines.common import table
from pipelines.heads import fit_linear
from pipelines.metrics import label_sets, micro_f1_sets
from pipelines.tenant_topics import L2

CORRECTIONS = (25, 50, 100, 200, 400)
DRAWS = 3


class Vectors:
    """Document vectors and per-document sentence vectors of texts, from one model."""

    def __init__(self, model: multitask.MultiTaskModel, tokenizer: Any, texts: Sequence[str]) -> None:
        found = infer_documents(model, tokenizer, [prepare(t) for t in texts])
        self.documents = torch.stack([f.vector.float() for f in found])
        self.sentences = [f.sentence_vectors.float() for f in found]


def similarity(vectors: Vectors, topics: torch.Tensor) -> torch.Tensor:
    """Per document and topic: the highest centred cosine of its vector or any sentence's to the topic's text."""
    unit = F.normalize(topics, dim=-1)

    def centred(v: torch.Tensor) -> torch.Tensor:
        cos = F.normalize(v, dim=-1) @ unit.T
        return cos - cos.mean(-1, keepdim=True)

    document = centred(vectors.documents)
    best = [centred(s).max(0).values if len(s) else document[k] for k, s in enumerate(vectors.sentences)]
    return torch.maximum(document, torch.stack(best))


def zero_shot(score: torch.Tensor, threshold: float, ids: Sequence[str]) -> list[set[str]]:
    return label_sets(score >= threshold, ids)


def fallback(rules: Sequence[set[str]], score: torch.Tensor, threshold: float, ids: Sequence[str]) -> list[set[str]]:
    """The rules' topics; for an item without any, the most similar topic if it passes the threshold."""
    best = score.max(-1)
    return [r or ({ids[int(best.indices[k])]} if best.values[k] >= threshold else set()) for k, r in enumerate(rules)]


def best_threshold(pick: Any, score: torch.Tensor, gold: Sequence[set[str]]) -> float:
    """The threshold with the highest micro-F1 on dev, among quantiles of the best score; 'never' on a tie."""
    candidates = [float("inf"), *torch.quantile(score.max(-1).values, torch.linspace(0, 0.99, 34)).tolist()]
    return max(candidates, key=lambda t: micro_f1_sets(gold, pick(t)))


def evaluate(name: str, model: multitask.MultiTaskModel, tokenizer: Any, taxonomy: Taxonomy) -> list[list[Any]]:
    items, _ = corpus.load()
    dev = [i for i in items if corpus.split_of(i.batch) == "dev"]
    test = [i for i in items if corpus.split_of(i.batch) == "test"]
    ids = [t.id for t in taxonomy.topics]
    rules = RuleTopicAnalyzer(taxonomy)
    ruled = {
        split: [set(r.document.scores) - {OTHER_TOPIC} for r in rules.analyze([prepare(i.text) for i in part])]
        for split, part in (("dev", dev), ("test", test))
    }
    gold = {"dev": [set(i.topics) for i in dev], "test": [set(i.topics) for i in test]}
    vectors = {
        "dev": Vectors(model, tokenizer, [i.text for i in dev]),
        "test": Vectors(model, tokenizer, [i.text for i in test]),
    }
    rows: list[list[Any]] = [[name, "keyword rules", "-", micro_f1_sets(gold["test"], ruled["test"])]]

    described = Vectors(model, tokenizer, [f"{t.label}: {t.description}" for t in taxonomy.topics]).documents
    score = {split: similarity(vectors[split], described) for split in ("dev", "test")}
    alone = best_threshold(lambda t: zero_shot(score["dev"], t, ids), score["dev"], gold["dev"])
    rows.append([name, "zero-shot alone", "-", micro_f1_sets(gold["test"], zero_shot(score["test"], alone, ids))])
    rescue = best_threshold(lambda t: fallback(ruled["dev"], score["dev"], t, ids), score["dev"], gold["dev"])
    rows.append(
        [
            name,
            "rules, zero-shot where none",
            "-",
            micro_f1_sets(gold["test"], fallback(ruled["test"], score["test"], rescue, ids)),
        ]
    )

    labels = torch.tensor([[t in g for t in ids] for g in gold["dev"]], dtype=torch.float32)
    for n in [*CORRECTIONS, len(dev)]:
        scores = []
        for draw in range(DRAWS if n < len(dev) else 1):
            chosen = random.Random(draw).sample(range(len(dev)), n)
            weight, bias = fit_linear(vectors["dev"].documents[chosen], labels[chosen], L2, multi_label=True)
            head = label_sets(torch.sigmoid(vectors["test"].documents @ weight.T + bias) >= THRESHOLD, ids)
            scores.append(micro_f1_sets(gold["test"], [h | r for h, r in zip(head, ruled["test"], strict=True)]))
        rows.append([name, "rules + head on corrections", n, sum(scores) / len(scores)])
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=DEFAULT_BASE_MODEL, help="local directory or hub id of the base encoder")
    parser.add_argument("--model", type=Path, default=ARTIFACTS / "koe-accurate")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    taxonomy = default_taxonomy()
    served = NeuralModel(args.model, args.base)
    encoder, tokenizer = load_encoder(args.base)
    base = multitask.MultiTaskModel(encoder, served.spec).eval()  # no adapters: e5 as published
    rows = [
        *evaluate("e5-small (base)", base, tokenizer, taxonomy),
        *evaluate(served.version, served.model, served.tokenizer, taxonomy),
    ]
    print(table(["vectors", "topics from", "corrections", "test micro-F1"], rows))


if __name__ == "__main__":
    main()
