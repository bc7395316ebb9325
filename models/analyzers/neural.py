"""The trained multi-task model as analyzers: one batched forward pass serves sentiment, topics, stage, emotions.

preprocess (each document tokenized once into windows of whole sentences, documents sorted by length) →
forward (inference_mode, batches of documents) → postprocess (calibrated probabilities, thresholds,
sentence spans as evidence). Document and sentence vectors come from the same pass.
"""

from __future__ import annotations

import ctypes
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any

import torch

from models import multitask, xlmr
from models.analyzers.base import DocumentResult, Evidence, Labelled
from models.aspects import term_key
from models.document import Document
from models.taxonomy import OTHER_TOPIC
from models.windows import Windows

# Documents per forward pass, by length. Small batches measured faster on 2 cores as well as lighter: 400 corpus
# documents at 6,000 characters a batch 26.3 docs/s and a 1,265 MB peak, at 1,500 53.1 docs/s, 999 MB; at 750
# 55.7 docs/s; 400 Amazon reviews at 6,000 23.8 docs/s, 1,148 MB, at 1,000 31.9 docs/s, 1,009 MB (same labels).
BATCH_CHARACTERS = 1_000
BATCH_DOCUMENTS = 64
STAGE_MIN_CONFIDENCE = 0.5  # below this a sentence gets no stage rather than a guess
MULTI_LABEL = {"topics", "emotions"}
# Token positions of a forward pass worth a malloc_trim after it (see _release_freed_memory): at 256, koe-accurate's
# largest activation is 1.5 MB; a one-sentence request is 20–60.
TRIM_TOKENS = 256


class NeuralModel:
    """Loads the encoder, adapters and heads once; `predict` memoizes the last batch per thread."""

    def __init__(
        self, directory: Path, base_model: str, *, quantize: bool = False, bfloat16: bool | None = None
    ) -> None:
        """`bfloat16`: the encoder's layers in bfloat16 (xlmr.XLMRobertaEncoder.run_in_bfloat16); None: where the
        CPU multiplies bfloat16 natively and the encoder is koe's own, unless quantized."""
        base, self.tokenizer = xlmr.load(base_model)
        self.model = multitask.load(directory, base)
        encoder = self.model.encoder
        if bfloat16 is None:
            bfloat16 = isinstance(encoder, xlmr.XLMRobertaEncoder) and not quantize and xlmr.native_bfloat16()
        if bfloat16:
            if quantize or not isinstance(encoder, xlmr.XLMRobertaEncoder):
                raise ValueError("bfloat16 needs koe's own XLM-R encoder (a local base model) and no int8 quantization")
            encoder.run_in_bfloat16()
        elif quantize:  # int8 dynamic quantization of the encoder's Linear layers; the small heads stay fp32
            self.model.encoder = torch.ao.quantization.quantize_dynamic(encoder, {torch.nn.Linear}, dtype=torch.qint8)
        elif isinstance(encoder, xlmr.XLMRobertaEncoder):
            encoder.pack_weights()  # float32
        self.spec = self.model.spec
        # a stored analysis names the arithmetic too: int8 and bfloat16 answer slightly differently from float32
        self.arithmetic = "+int8" if quantize else "+bf16" if bfloat16 else ""
        self.version = self.spec.version + self.arithmetic
        self._memo = threading.local()

    def predict(self, documents: Sequence[Document]) -> list[multitask.DocumentLogits]:
        if getattr(self._memo, "documents", None) is not documents:
            self._memo.logits = self._predict(documents)
            self._memo.probabilities = None
            self._memo.documents = documents
        return self._memo.logits

    def probabilities(self, documents: Sequence[Document]) -> list[Probabilities]:
        """Calibrated probabilities of every task, per document (see Probabilities); computed once per call, only
        for callers that read them (not the aspect view, not a tenant head reading vectors)."""
        logits = self.predict(documents)
        if self._memo.probabilities is None:
            self._memo.probabilities = self._probabilities(logits)
        return self._memo.probabilities

    def _predict(self, documents: Sequence[Document]) -> list[multitask.DocumentLogits]:
        return infer_documents(self.model, self.tokenizer, documents, _release_freed_memory)

    def softmax(self, task: str, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits / self.spec.temperatures.get(task, 1.0), dim=-1)

    def _probabilities(self, found: Sequence[multitask.DocumentLogits]) -> list[Probabilities]:
        """Every document's logits turned into probabilities by one operation per task over the whole call, as
        Python lists: per sentence, small tensor operations cost more than the heads (0.2 ms a sentence)."""
        if not found:
            return []
        starts = list(accumulate((len(p.sentence_vectors) for p in found), initial=0))
        document = {
            task: self._activation(task, torch.stack([p.document[task] for p in found])).tolist()
            for task in found[0].document
        }
        sentences: dict[str, list[list[list[float]]]] = {}
        for task in found[0].sentences:
            rows = self._activation(task, torch.cat([p.sentences[task] for p in found])).tolist()
            sentences[task] = [rows[a:b] for a, b in pairwise(starts)]
        return [
            Probabilities({t: v[d] for t, v in document.items()}, {t: v[d] for t, v in sentences.items()})
            for d in range(len(found))
        ]

    def _activation(self, task: str, logits: torch.Tensor) -> torch.Tensor:
        """Multi-label tasks (topics, emotions) a sigmoid per label; the others a softmax at the task's
        calibrated temperature (a sentence's stage at the document stage's)."""
        head = task.removeprefix("sentence_") if task != "sentence_sentiment" else task
        if head in MULTI_LABEL:
            return torch.sigmoid(logits.float())
        return self.softmax(head, logits.float())


@dataclass(frozen=True, slots=True)
class Probabilities:
    """One document's calibrated probabilities: per document task a list over its labels, per sentence task one
    such list per sentence (task names as in multitask.DocumentLogits)."""

    document: dict[str, list[float]]
    sentences: dict[str, list[list[float]]]


def infer_documents(
    model: multitask.MultiTaskModel,
    tokenizer: Any,
    documents: Sequence[Document],
    after_batch: Callable[[Windows], None] = lambda windows: None,
) -> list[multitask.DocumentLogits]:
    """Prepared documents through a model, each as its sentences' original text, batched by length."""
    sentences = [
        [doc.normalized.original[slice(*doc.original_span(s.start, s.end))] for s in doc.sentences] for doc in documents
    ]
    return multitask.infer(model, tokenizer, sentences, length_batches(sentences), after_batch)


def _release_freed_memory(windows: Windows) -> None:
    """Give the freed activations back to the system after a forward pass of at least TRIM_TOKENS. Batches of
    growing length leave glibc's heap fragmented: analyzing 500 reviews grew a process by 620 MB without trimming,
    by 370 MB with it, and the peak was 90 MB lower. But a trim walks the whole heap, to give back the little a short
    pass used: 300 one-sentence requests (koe-accurate, after a few batches) spent 0.29 s trimming and took 5.97 and
    6.02 s with it, 4.99 and 5.68 s without (RSS 893 → 917 MiB)."""
    if _LIBC is not None and windows.input_ids.numel() >= TRIM_TOKENS:
        _LIBC.malloc_trim(0)


def _glibc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (musl, macOS): nothing to trim
        return None


_LIBC = _glibc()


def length_batches(documents: list[list[str]]) -> Iterator[list[int]]:
    """Document numbers in length order, cut into batches of similar length within the character budget."""
    order = sorted(range(len(documents)), key=lambda d: sum(map(len, documents[d])))
    group: list[int] = []
    used = 0
    for d in order:
        size = sum(map(len, documents[d]))
        if group and (used + size > BATCH_CHARACTERS or len(group) == BATCH_DOCUMENTS):
            yield group
            group, used = [], 0
        group.append(d)
        used += size
    if group:
        yield group


def _scores(labels: Sequence[str], probabilities: Sequence[float]) -> dict[str, float]:
    return {label: round(p, 4) for label, p in zip(labels, probabilities, strict=True)}


def _best(labels: Sequence[str], probabilities: Sequence[float]) -> str:
    return labels[max(range(len(probabilities)), key=probabilities.__getitem__)]


class _View:
    """One role of the shared model, shaped like any other analyzer."""

    role = ""
    portable = False  # shares the loaded model: a copy per process would cost its memory again

    def __init__(self, model: NeuralModel) -> None:
        self.model = model
        self.spec = model.spec
        self.name = f"{model.spec.name}-{self.role}"
        self.version = model.version

    def analyze(self, documents: Sequence[Document]) -> list[DocumentResult]:
        found = self.model.probabilities(documents)
        return [self._result(doc, p) for doc, p in zip(documents, found, strict=True)]

    def _result(self, doc: Document, p: Probabilities) -> DocumentResult:
        raise NotImplementedError


class NeuralSentiment(_View):
    role = "sentiment"

    def _result(self, doc: Document, p: Probabilities) -> DocumentResult:
        labels, sentence_labels = self.spec.doc_sentiment, self.spec.sentence_sentiment
        doc_probs = p.document["doc_sentiment"]
        document = Labelled(_best(labels, doc_probs), _scores(labels, doc_probs))
        sentences = []
        for sentence, probs in zip(doc.sentences, p.sentences["sentence_sentiment"], strict=True):
            label = _best(sentence_labels, probs)
            scores = _scores(sentence_labels, probs)
            weight = round(scores["positive"] - scores["negative"], 3)
            evidence = [Evidence(label, sentence.start, sentence.end, weight)] if label != "neutral" else []
            sentences.append(Labelled(label, scores, evidence))
        document.evidence = [e for s in sentences for e in s.evidence]
        return DocumentResult(document, sentences)


class NeuralTopics(_View):
    role = "topics"

    def _labelled(self, probs: Sequence[float], evidence: list[Evidence]) -> Labelled:
        thresholds = self.spec.thresholds
        found = {
            t: round(p, 4)
            for t, p in zip(self.spec.topics, probs, strict=True)
            if p >= thresholds.get(f"topic:{t}", 0.5)
        }
        if not found:
            return Labelled(OTHER_TOPIC, {OTHER_TOPIC: 1.0}, [])
        ranked = dict(sorted(found.items(), key=lambda kv: -kv[1]))
        return Labelled(next(iter(ranked)), ranked, [e for e in evidence if e.label in ranked])

    def _result(self, doc: Document, p: Probabilities) -> DocumentResult:
        sentences = []
        for s, probs in zip(doc.sentences, p.sentences["sentence_topics"], strict=True):
            base = self._labelled(probs, [])
            spans = [Evidence(t, s.start, s.end, score) for t, score in base.scores.items() if t != OTHER_TOPIC]
            sentences.append(Labelled(base.label, base.scores, spans))
        evidence = [e for s in sentences for e in s.evidence]
        return DocumentResult(self._labelled(p.document["topics"], evidence), sentences)


class NeuralStage(_View):
    role = "stage"

    def _result(self, doc: Document, p: Probabilities) -> DocumentResult:
        stages = self.spec.stages
        document = Labelled(_best(stages, p.document["stage"]), _scores(stages, p.document["stage"]))
        sentences = []
        for sp in p.sentences["sentence_stage"]:
            confident = max(sp) >= STAGE_MIN_CONFIDENCE
            sentences.append(Labelled(_best(stages, sp) if confident else None, _scores(stages, sp)))
        return DocumentResult(document, sentences)


class NeuralEmotions(_View):
    """Plutchik's eight emotions, each present or not in the document (multi-label): the label is the likeliest
    present emotion, the scores the probability of every emotion present."""

    role = "emotions"

    def _result(self, doc: Document, p: Probabilities) -> DocumentResult:
        thresholds = self.spec.thresholds
        present = {
            e: round(q, 4)
            for e, q in zip(self.spec.emotions, p.document["emotions"], strict=True)
            if q >= thresholds.get(f"emotion:{e}", 0.5)
        }
        ranked = dict(sorted(present.items(), key=lambda kv: -kv[1]))
        return DocumentResult(Labelled(next(iter(ranked), None), ranked), [])


class NeuralAspects(_View):
    """Aspect–opinion pairs (models.aspects) with offsets into the original text; the model read each document as
    its sentences joined, so an offset moves by the gap before its sentence."""

    role = "aspects"

    def analyze(self, documents: Sequence[Document]) -> list[DocumentResult]:
        return [self._pairs(doc, p) for doc, p in zip(documents, self.model.predict(documents), strict=True)]

    def _pairs(self, doc: Document, p: multitask.DocumentLogits) -> DocumentResult:
        starts, moves = [], []
        joined = 0
        for sentence in doc.sentences:
            start, end = doc.original_span(sentence.start, sentence.end)
            starts.append(joined)
            moves.append(start - joined)
            joined += end - start

        def original(at: int) -> int:
            return at + moves[max(0, bisect_right(starts, at) - 1)]

        found = []
        for a in p.aspects or []:
            begin, end = original(a.aspect_start), original(a.aspect_end - 1) + 1
            text = doc.normalized.original[begin:end]
            pair: dict[str, Any] = {
                "aspect": {"text": text, "offset": begin, "length": end - begin},
                "term": term_key(text),
                "opinion": None,
                "polarity": a.polarity,
                "score": a.score,
            }
            if a.opinion_start is not None and a.opinion_end is not None:
                o_begin, o_end = original(a.opinion_start), original(a.opinion_end - 1) + 1
                opinion = doc.normalized.original[o_begin:o_end]
                pair["opinion"] = {"text": opinion, "offset": o_begin, "length": o_end - o_begin}
            found.append(pair)
        return DocumentResult(found, [])


def arithmetic_of(pipeline: Any) -> str:
    """The suffix of a pipeline's trained model's arithmetic ("+int8", "+bf16"; "" for float32 or no model)."""
    model = getattr(pipeline.sentiment, "model", None)
    return model.arithmetic if isinstance(model, NeuralModel) else ""


def analyzers(
    directory: Path, base_model: str, *, quantize: bool = False, bfloat16: bool | None = None
) -> dict[str, Any]:
    """The role analyzers over one loaded model: the roles its spec says it serves, and aspects when it has a
    tagger (no rule analyzer answers that role)."""
    model = NeuralModel(directory, base_model, quantize=quantize, bfloat16=bfloat16)
    views = {"sentiment": NeuralSentiment, "topics": NeuralTopics, "stage": NeuralStage, "emotions": NeuralEmotions}
    found: dict[str, Any] = {role: views[role](model) for role in model.spec.serves}
    return found | ({"aspects": NeuralAspects(model)} if model.model.aspects is not None else {})
