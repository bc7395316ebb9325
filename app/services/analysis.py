"""Analysis use cases: validate texts, run the pipeline, shape results for storage and for the API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.core import metrics
from app.core.config import Settings
from app.schemas.analysis import AnalyzedDocument, AnalyzeDocument, AnalyzeResponse, DocumentError
from models.pipeline import AnalysisInput, AnalysisPipeline, DocumentAnalysis
from models.text import grapheme_count


def text_problem(text: str, *, settings: Settings) -> tuple[str, str] | None:
    """(code, message) when a text cannot be analyzed, else None."""
    if not text.strip():
        return "empty_text", "text is empty or whitespace only"
    if len(text) > settings.max_text_graphemes and grapheme_count(text) > settings.max_text_graphemes:
        return "text_too_long", (
            f"text has {grapheme_count(text):,} characters; "
            f"the limit is {settings.max_text_graphemes:,} (KOE_MAX_TEXT_GRAPHEMES)"
        )
    return None


def analyze_documents(
    *,
    pipeline: AnalysisPipeline,
    documents: Sequence[AnalyzeDocument],
    settings: Settings,
    redact: Callable[[str], str] = str,
) -> AnalyzeResponse:
    """Analyze what is valid; every invalid document gets its own error and the rest are still answered.
    `redact` removes PII first, so that no sentence, explanation or offset in the answer reveals it."""
    errors, valid = [], []
    for index, doc in enumerate(documents):
        problem = text_problem(doc.text, settings=settings)
        if problem:
            errors.append(DocumentError(id=doc.id, index=index, code=problem[0], message=problem[1]))
        else:
            valid.append((index, doc))
    results = pipeline.analyze([AnalysisInput(redact(d.text), d.stage, d.touchpoint) for _, d in valid])
    metrics.analyzed(len(results))
    answered = [AnalyzedDocument(id=d.id, index=i, **as_dict(r)) for (i, d), r in zip(valid, results, strict=True)]
    return AnalyzeResponse(documents=answered, errors=errors, model_versions=pipeline.model_versions)


def as_dict(result: DocumentAnalysis) -> dict[str, Any]:
    return {
        "sentiment": result.sentiment,
        "sentences": result.sentences,
        "topics": result.topics,
        "stage": result.stage,
        "explanations": result.explanations,
        "model_versions": result.model_versions,
        "warnings": result.warnings,
        "conversation": result.conversation,
        "emotions": result.emotions,
        "aspects": result.aspects,
    }


def pipeline_version(model_versions: dict[str, str]) -> str:
    """One string naming every model that produced an analysis: the identity of a scoring."""
    return ";".join(f"{role}={version}" for role, version in sorted(model_versions.items()))


def analysis_columns(result: DocumentAnalysis) -> dict[str, Any]:
    """The stored columns of an analysis row."""
    return {
        "model_versions": result.model_versions,
        "sentiment": result.sentiment["label"],
        "sentiment_scores": result.sentiment["scores"],
        "stage": result.stage["label"],
        "stage_predicted": result.stage["predicted"],
        "stage_source": result.stage["source"],
        "stage_scores": result.stage["scores"],
        "sentences": result.sentences,
        "explanations": result.explanations,
        "warnings": result.warnings,
        "conversation": result.conversation,
        "emotions": result.emotions,
        "aspects": result.aspects,
        "terms": result.terms,
    }
