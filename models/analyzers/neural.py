"""The trained multi-task model as analyzers: one batched forward pass serves sentiment, topics and stage.

preprocess (windows of whole sentences, sorted by length) → forward (inference_mode, batches) →
postprocess (calibrated probabilities, thresholds, sentence spans as evidence).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models import multitask
from models.analyzers.base import DocumentResult, Evidence, Labelled
from models.document import Document
from models.encoder import load_encoder
from models.taxonomy import OTHER_TOPIC

BATCH = 64
STAGE_MIN_CONFIDENCE = 0.5  # below this a sentence gets no stage rather than a guess


@dataclass
class _Input:
    text: str
    doc: int
    sentence: int | None  # None: a window of the whole document


class NeuralModel:
    """Loads the encoder, adapters and heads once; `predict` memoizes the last batch per thread."""

    def __init__(self, directory: Path, base_model: str, *, quantize: bool = False) -> None:
        encoder, self.tokenizer = load_encoder(base_model)
        self.model = multitask.load(directory, encoder)
        if quantize:  # int8 dynamic quantization of the Linear layers: faster on CPU at equal accuracy
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self.spec = self.model.spec
        self.version = self.spec.version + ("+int8" if quantize else "")
        self._memo = threading.local()

    def predict(self, documents: Sequence[Document]) -> list[dict[str, Any]]:
        if getattr(self._memo, "documents", None) is not documents:
            self._memo.result = self._predict(documents)
            self._memo.documents = documents
        return self._memo.result

    def _predict(self, documents: Sequence[Document]) -> list[dict[str, Any]]:
        inputs = [i for d, doc in enumerate(documents) for i in self._inputs(d, doc)]
        logits = self._forward([i.text for i in inputs])
        out: list[dict[str, Any]] = [{"windows": [], "sentences": {}, "truncated": False} for _ in documents]
        for k, item in enumerate(inputs):
            row = {task: values[k] for task, values in logits.items()}
            if item.sentence is None:
                out[item.doc]["windows"].append((len(item.text), row))
            else:
                out[item.doc]["sentences"][item.sentence] = row
        return out

    def _inputs(self, d: int, doc: Document) -> list[_Input]:
        sentences = [doc.normalized.original[slice(*doc.original_span(s.start, s.end))] for s in doc.sentences]
        items = [_Input(text, d, i) for i, text in enumerate(sentences)]
        return items + [_Input(text, d, None) for text in self._windows(sentences)]

    def _windows(self, sentences: list[str]) -> list[str]:
        """Whole sentences packed into windows that fit the encoder, so long texts are never cut silently."""
        budget = self.spec.max_length - 8
        windows, current, used = [], "", 0
        for sentence in sentences:
            n = len(self.tokenizer.tokenize(sentence))
            if current and used + n > budget:
                windows.append(current)
                current, used = "", 0
            current, used = current + sentence, used + n
        return [*windows, current] if current else windows or [""]

    @torch.inference_mode()
    def _forward(self, texts: list[str]) -> dict[str, torch.Tensor]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts: dict[str, list[torch.Tensor]] = {}
        for start in range(0, len(order), BATCH):
            batch = [multitask.PASSAGE + texts[i] for i in order[start : start + BATCH]]
            encoded = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.spec.max_length, return_tensors="pt"
            )
            for task, value in self.model(encoded["input_ids"], encoded["attention_mask"]).items():
                parts.setdefault(task, []).append(value)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        return {task: torch.cat(values)[inverse] for task, values in parts.items()}

    def softmax(self, task: str, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits / self.spec.temperatures.get(task, 1.0), dim=-1)


def _pooled(windows: list[tuple[int, dict[str, torch.Tensor]]], task: str) -> torch.Tensor:
    """Length-weighted mean of a document's window logits."""
    total = sum(n for n, _ in windows) or 1
    return sum((n / total) * row[task] for n, row in windows)  # type: ignore[return-value]


def _scores(labels: Sequence[str], probabilities: torch.Tensor) -> dict[str, float]:
    return {label: round(float(p), 4) for label, p in zip(labels, probabilities, strict=True)}


class _View:
    """One role of the shared model, shaped like any other analyzer."""

    role = ""

    def __init__(self, model: NeuralModel) -> None:
        self.model = model
        self.name = f"{model.spec.name}-{self.role}"
        self.version = model.version

    def analyze(self, documents: Sequence[Document]) -> list[DocumentResult]:
        return [self._result(doc, p) for doc, p in zip(documents, self.model.predict(documents), strict=True)]

    def _result(self, doc: Document, p: dict[str, Any]) -> DocumentResult:
        raise NotImplementedError


class NeuralSentiment(_View):
    role = "sentiment"

    def _result(self, doc: Document, p: dict[str, Any]) -> DocumentResult:
        spec = self.model.spec
        doc_probs = self.model.softmax("doc_sentiment", _pooled(p["windows"], "doc_sentiment"))
        document = Labelled(spec.doc_sentiment[int(doc_probs.argmax())], _scores(spec.doc_sentiment, doc_probs))
        sentences = []
        for i, sentence in enumerate(doc.sentences):
            probs = self.model.softmax("sentence_sentiment", p["sentences"][i]["sentence_sentiment"])
            label = spec.sentence_sentiment[int(probs.argmax())]
            scores = _scores(spec.sentence_sentiment, probs)
            weight = round(scores["positive"] - scores["negative"], 3)
            evidence = [Evidence(label, sentence.start, sentence.end, weight)] if label != "neutral" else []
            sentences.append(Labelled(label, scores, evidence))
        document.evidence = [e for s in sentences for e in s.evidence]
        return DocumentResult(document, sentences)


class NeuralTopics(_View):
    role = "topics"

    def _labelled(self, logits: torch.Tensor, evidence: list[Evidence]) -> Labelled:
        spec = self.model.spec
        probs = torch.sigmoid(logits)
        found = {
            t: round(float(probs[j]), 4)
            for j, t in enumerate(spec.topics)
            if float(probs[j]) >= spec.thresholds.get(f"topic:{t}", 0.5)
        }
        if not found:
            return Labelled(OTHER_TOPIC, {OTHER_TOPIC: 1.0}, [])
        ranked = dict(sorted(found.items(), key=lambda kv: -kv[1]))
        return Labelled(next(iter(ranked)), ranked, [e for e in evidence if e.label in ranked])

    def _result(self, doc: Document, p: dict[str, Any]) -> DocumentResult:
        sentences = []
        for i, s in enumerate(doc.sentences):
            base = self._labelled(p["sentences"][i]["topics"], [])
            spans = [Evidence(t, s.start, s.end, score) for t, score in base.scores.items() if t != OTHER_TOPIC]
            sentences.append(Labelled(base.label, base.scores, spans))
        evidence = [e for s in sentences for e in s.evidence]
        return DocumentResult(self._labelled(_pooled(p["windows"], "topics"), evidence), sentences)


class NeuralStage(_View):
    role = "stage"

    def _result(self, doc: Document, p: dict[str, Any]) -> DocumentResult:
        spec = self.model.spec
        probs = self.model.softmax("stage", _pooled(p["windows"], "stage"))
        document = Labelled(spec.stages[int(probs.argmax())], _scores(spec.stages, probs))
        sentences = []
        for i in range(len(doc.sentences)):
            sp = self.model.softmax("stage", p["sentences"][i]["stage"])
            confident = float(sp.max()) >= STAGE_MIN_CONFIDENCE
            sentences.append(Labelled(spec.stages[int(sp.argmax())] if confident else None, _scores(spec.stages, sp)))
        return DocumentResult(document, sentences)


def analyzers(directory: Path, base_model: str, *, quantize: bool = False) -> dict[str, Any]:
    """The role analyzers over one loaded model, for the roles its spec says it serves."""
    model = NeuralModel(directory, base_model, quantize=quantize)
    views = {"sentiment": NeuralSentiment, "topics": NeuralTopics, "stage": NeuralStage}
    return {role: views[role](model) for role in model.spec.serves}
