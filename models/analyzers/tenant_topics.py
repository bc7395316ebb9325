"""A tenant's topics learned from its analysts' corrections: a linear head over the trained model's document and
sentence vectors, added to the taxonomy's keyword rules.

The head only adds topics: keyword rules keep working for topics with too few corrections, and the head finds the
items of a topic that no keyword names. Measured on the corpus (base encoder vectors, so topics it never learned;
fixed threshold 0.5, no tuning): rules alone 0.509 micro-F1 on the test split, rules + a head fitted on 25
corrected items 0.545, on 100 items 0.564, on 1,304 items 0.586 (docs/evaluation.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from models.analyzers.base import Analyzer, DocumentResult, Evidence, Labelled
from models.analyzers.neural import NeuralModel
from models.document import Document
from models.registry import TENANT_TOPICS
from models.taxonomy import OTHER_TOPIC

THRESHOLD = 0.5  # no dev split exists for a tenant's topics: the probability's own midpoint


@dataclass(frozen=True)
class TopicHead:
    """One logistic regression per topic over the model's pooled vectors, for the taxonomy it was trained on."""

    topics: list[str]
    weight: torch.Tensor  # [topics, hidden]
    bias: torch.Tensor  # [topics]
    model_version: str  # the model whose vectors it reads: another model's vectors would mean nothing to it

    def to_bytes(self) -> bytes:
        return save_tensors({"weight": self.weight.contiguous(), "bias": self.bias.contiguous()})

    @classmethod
    def from_bytes(cls, topics: list[str], data: bytes, model_version: str) -> TopicHead:
        tensors = load_tensors(data)
        if tensors["weight"].shape[0] != len(topics):
            raise ValueError(f"a head of {tensors['weight'].shape[0]} topics for a list of {len(topics)}")
        return cls(list(topics), tensors["weight"], tensors["bias"], model_version)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()[:8]

    def probabilities(self, vectors: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(vectors.float() @ self.weight.T + self.bias)


class TenantTopicAnalyzer:
    """The topics another analyzer finds (the tenant taxonomy's keyword rules, or the model's own topic head for the
    default taxonomy), plus those the tenant's correction-trained head finds."""

    name = TENANT_TOPICS
    portable = False  # reads the loaded model's vectors

    def __init__(self, known: Analyzer, model: NeuralModel, head: TopicHead) -> None:
        if head.model_version != model.version:
            raise ValueError(f"the head reads vectors of {head.model_version}, not of {model.version}")
        self.known, self.model, self.head = known, model, head
        self.version = f"{known.name}@{known.version}+head.{head.digest}"

    def analyze(self, documents: Sequence[Document]) -> list[DocumentResult]:
        found = self.model.predict(documents)
        return [
            self._merged(doc, known_result, p.vector, p.sentence_vectors)
            for doc, known_result, p in zip(documents, self.known.analyze(documents), found, strict=True)
        ]

    def _merged(
        self, doc: Document, known_result: DocumentResult, vector: torch.Tensor, sentence_vectors: torch.Tensor
    ) -> DocumentResult:
        sentence_probs = self.head.probabilities(sentence_vectors) if len(doc.sentences) else None
        sentences = []
        for i, (sentence, by_known) in enumerate(zip(doc.sentences, known_result.sentences, strict=True)):
            learned = self._found(sentence_probs[i]) if sentence_probs is not None else {}
            spans = [Evidence(t, sentence.start, sentence.end, p) for t, p in learned.items()]
            sentences.append(_union(by_known, learned, [*by_known.evidence, *spans]))
        evidence = [e for s in sentences for e in s.evidence]
        learned_doc = self._found(self.head.probabilities(vector.unsqueeze(0))[0])
        return DocumentResult(_union(known_result.document, learned_doc, evidence), sentences)

    def _found(self, probabilities: torch.Tensor) -> dict[str, float]:
        return {t: round(float(p), 4) for t, p in zip(self.head.topics, probabilities, strict=True) if p >= THRESHOLD}


def _union(by_known: Labelled, learned: dict[str, float], evidence: list[Evidence]) -> Labelled:
    """Both analyzers' topics, each scored by the more confident one; `other` only when neither found a topic.
    `evidence`: the spans of both, of which those of a found topic are kept."""
    scores = {t: s for t, s in by_known.scores.items() if t != OTHER_TOPIC}
    for topic, p in learned.items():
        scores[topic] = max(p, scores.get(topic, 0.0))
    if not scores:
        return by_known
    ranked = dict(sorted(scores.items(), key=lambda kv: -kv[1]))
    return Labelled(next(iter(ranked)), ranked, [e for e in evidence if e.label in ranked])
