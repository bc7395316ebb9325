"""The analysis pipeline: prepare documents once, run every analyzer in batch, assemble one result each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from models import conversation
from models.analyzers.base import Analyzer, DocumentResult, Evidence, Labelled
from models.conversation import Turn
from models.document import Document, prepare
from models.journey import DEFAULT_TOUCHPOINT_STAGES
from models.taxonomy import Taxonomy
from models.terms import document_terms

_JAPANESE = regex.compile(r"[\p{Hiragana}\p{Katakana}\p{Han}]")
_LETTER = regex.compile(r"\p{L}")


@dataclass(frozen=True, slots=True)
class AnalysisInput:
    text: str
    stage: str | None = None  # given by the caller: wins over the prediction
    touchpoint: str | None = None
    turns: tuple[Turn, ...] | None = None  # a transcript: `text` is then its rendering (conversation.render)


@dataclass(slots=True)
class DocumentAnalysis:
    """Everything koe knows about one text; offsets are code-point offsets into the original text."""

    sentiment: dict[str, Any]
    sentences: list[dict[str, Any]]
    topics: list[dict[str, Any]]
    stage: dict[str, Any]
    explanations: list[dict[str, Any]]
    model_versions: dict[str, str]
    warnings: list[dict[str, str]] = field(default_factory=list)
    conversation: dict[str, Any] | None = None  # per-turn results and the transcript's summary
    emotions: dict[str, Any] | None = None  # {"present": [...], "scores": {...}}; None without an emotion model
    aspects: list[dict[str, Any]] | None = None  # aspect–opinion pairs; None without an aspect tagger
    terms: list[str] = field(default_factory=list)  # for keyword analytics (models.terms)


class AnalysisPipeline:
    """normalize → split → tokenize once per document, then the sentiment, topic, stage (and emotion) analyzers."""

    def __init__(
        self,
        *,
        sentiment: Analyzer,
        topics: Analyzer,
        stage: Analyzer,
        emotions: Analyzer | None = None,  # only trained models have these two
        aspects: Analyzer | None = None,
        touchpoint_stages: dict[str, str] | None = None,
    ) -> None:
        self.sentiment, self.topics, self.stage, self.emotions = sentiment, topics, stage, emotions
        self.aspects = aspects
        self.touchpoint_stages = {**DEFAULT_TOUCHPOINT_STAGES, **(touchpoint_stages or {})}

    @property
    def model_versions(self) -> dict[str, str]:
        return {role: f"{a.name}@{a.version}" for role, a in self._analyzers().items()}

    @property
    def portable(self) -> bool:
        """Whether a copy in another process is cheap (see Analyzer.portable)."""
        return all(a.portable for a in self._analyzers().values())

    def _analyzers(self) -> dict[str, Analyzer]:
        roles = {"sentiment": self.sentiment, "topics": self.topics, "stage": self.stage}
        optional = {"emotions": self.emotions, "aspects": self.aspects}
        return roles | {role: a for role, a in optional.items() if a is not None}

    def with_topics(self, topics: Analyzer) -> AnalysisPipeline:
        """The same pipeline with another topic analyzer (a tenant's taxonomy)."""
        return AnalysisPipeline(
            sentiment=self.sentiment,
            topics=topics,
            stage=self.stage,
            emotions=self.emotions,
            aspects=self.aspects,
            touchpoint_stages=self.touchpoint_stages,
        )

    def analyze(self, inputs: Sequence[AnalysisInput]) -> list[DocumentAnalysis]:
        plain = [i for i, item in enumerate(inputs) if not item.turns]
        results = dict(zip(plain, self._analyze_texts([inputs[i] for i in plain]), strict=True))
        for i, item in enumerate(inputs):
            if item.turns:  # a transcript is read turn by turn, never as one rendered text
                results[i] = self._conversation(item)
        return [results[i] for i in range(len(inputs))]

    def _conversation(self, item: AnalysisInput) -> DocumentAnalysis:
        """Customer turns decide the sentiment, topics and stage; every turn gets its own result."""
        assert item.turns is not None
        _, offsets = conversation.render(item.turns)
        per_turn = self._analyze_texts([AnalysisInput(t.text) for t in item.turns])
        customer = [i for i, t in enumerate(item.turns) if t.speaker == "customer"]
        joined = self._analyze_texts(
            [AnalysisInput("\n".join(item.turns[i].text for i in customer) or " ", item.stage, item.touchpoint)]
        )[0]
        turns = [
            {
                "speaker": t.speaker,
                "offset": offsets[i],
                "length": len(t.text),
                "at": conversation.when(t.at),
                "sentiment": per_turn[i].sentiment,
                "topics": [x["id"] for x in per_turn[i].topics],
            }
            for i, t in enumerate(item.turns)
        ]
        sentences = [_shifted(s, offsets[i]) for i in customer for s in per_turn[i].sentences]
        explanations = [_shifted(e, offsets[i]) for i in customer for e in per_turn[i].explanations]
        aspects = [_shifted_pair(a, offsets[i]) for i in customer for a in per_turn[i].aspects or []]
        summary = conversation.summary(item.turns, [r.sentiment["label"] for r in per_turn])
        return DocumentAnalysis(
            sentiment=joined.sentiment,
            sentences=sentences,
            topics=joined.topics,
            stage=joined.stage,
            explanations=explanations,
            model_versions=joined.model_versions,
            warnings=joined.warnings,
            conversation={"turns": turns, **summary},
            emotions=joined.emotions,
            aspects=aspects if self.aspects else None,
            terms=joined.terms,
        )

    def _analyze_texts(self, inputs: Sequence[AnalysisInput]) -> list[DocumentAnalysis]:
        # Each distinct text is analyzed once per call: survey exports repeat 特になし, なし and 満足 by the
        # hundred. What differs between the repeats (a given stage, a touchpoint) is applied per input.
        number = {text: n for n, text in enumerate(dict.fromkeys(item.text for item in inputs))}
        documents = [prepare(text) for text in number]
        results = {role: a.analyze(documents) for role, a in self._analyzers().items()}
        per_text = [{role: r[n] for role, r in results.items()} for n in range(len(documents))]
        return [self._assemble(documents[number[i.text]], i, per_text[number[i.text]]) for i in inputs]

    def _assemble(self, doc: Document, item: AnalysisInput, r: dict[str, DocumentResult]) -> DocumentAnalysis:
        labels = _topic_labels(self.topics)
        sentiment: Labelled = r["sentiment"].document
        return DocumentAnalysis(
            sentiment={"label": sentiment.label, "scores": sentiment.scores},
            sentences=[_sentence(doc, i, r) for i in range(len(doc.sentences))],
            topics=[{"id": t, "name": labels.get(t, t), "score": s} for t, s in r["topics"].document.scores.items()],
            stage=self._stage(item, r["stage"].document),
            explanations=[
                _explain(doc, role, e)
                for role, res in r.items()
                if isinstance(res.document, Labelled)  # aspects are spans themselves
                for e in res.document.evidence
            ],
            model_versions=self.model_versions,
            warnings=_warnings(doc),
            emotions=_emotions(r["emotions"].document) if "emotions" in r else None,
            aspects=r["aspects"].document if "aspects" in r else None,
            terms=document_terms(doc),
        )

    def _stage(self, item: AnalysisInput, predicted: Labelled) -> dict[str, Any]:
        stage = {
            "label": predicted.label,
            "predicted": predicted.label,
            "scores": predicted.scores,
            "source": "predicted" if predicted.label else "none",
        }
        mapped = self.touchpoint_stages.get(item.touchpoint or "")
        if item.stage:
            stage.update(label=item.stage, source="given")
        elif mapped:
            stage.update(label=mapped, source="touchpoint")
        return stage


def _emotions(found: Labelled) -> dict[str, Any]:
    return {"present": list(found.scores), "scores": found.scores}


def _shifted(part: dict[str, Any], by: int) -> dict[str, Any]:
    """A sentence or explanation of one turn, with its offset moved into the whole transcript."""
    return {**part, "offset": part["offset"] + by}


def _shifted_pair(pair: dict[str, Any], by: int) -> dict[str, Any]:
    """An aspect–opinion pair of one turn, its spans moved into the whole transcript."""
    return {
        **pair,
        "aspect": _shifted(pair["aspect"], by),
        "opinion": _shifted(pair["opinion"], by) if pair["opinion"] else None,
    }


def _topic_labels(analyzer: Analyzer) -> dict[str, str]:
    taxonomy: Taxonomy | None = getattr(analyzer, "taxonomy", None)
    return taxonomy.labels() if taxonomy else {}


def _sentence(doc: Document, i: int, r: dict[str, DocumentResult]) -> dict[str, Any]:
    sentence = doc.sentences[i]
    start, end = doc.original_span(sentence.start, sentence.end)
    sentiment: Labelled = r["sentiment"].sentences[i]
    return {
        "text": doc.normalized.original[start:end],
        "offset": start,
        "length": end - start,
        "sentiment": {"label": sentiment.label, "scores": sentiment.scores},
        "topics": list(r["topics"].sentences[i].scores),
        "stage": r["stage"].sentences[i].label,
    }


def _explain(doc: Document, role: str, evidence: Evidence) -> dict[str, Any]:
    start, end = doc.original_span(evidence.start, evidence.end)
    return {
        "analyzer": role,
        "label": evidence.label,
        "text": doc.normalized.original[start:end],
        "offset": start,
        "length": end - start,
        "weight": evidence.weight,
    }


def _warnings(doc: Document) -> list[dict[str, str]]:
    letters = len(_LETTER.findall(doc.text))
    if letters >= 5 and not _JAPANESE.search(doc.text):
        return [{"code": "not_japanese", "message": "no Japanese characters found; results may be meaningless"}]
    return []
