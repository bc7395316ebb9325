"""API shapes of an analysis result (shared by /v1/analyze and stored feedback)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from models.emotions import EMOTIONS
from models.journey import STAGES

StageId = Literal["awareness", "consideration", "purchase", "usage", "support", "retention", "advocacy"]
assert set(StageId.__args__) == set(STAGES)  # type: ignore[attr-defined]


class SentimentPublic(BaseModel):
    label: Literal["positive", "neutral", "negative", "mixed"]
    scores: dict[str, float] = Field(description="probability per label; sums to 1")


class SentencePublic(BaseModel):
    text: str
    offset: int = Field(description="code-point offset of the sentence in the original text")
    length: int
    sentiment: SentimentPublic
    topics: list[str]
    stage: StageId | None


class TopicPublic(BaseModel):
    id: str
    name: str
    score: float


class StagePublic(BaseModel):
    label: StageId | None = Field(description="the stage used for aggregates: given > touchpoint > predicted")
    predicted: StageId | None
    scores: dict[str, float]
    source: Literal["given", "touchpoint", "predicted", "none"]


class ExplanationPublic(BaseModel):
    analyzer: Literal["sentiment", "topics", "stage"]
    label: str
    text: str
    offset: int
    length: int
    weight: float


Emotion = Literal["joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation"]
assert list(Emotion.__args__) == EMOTIONS  # type: ignore[attr-defined]


class EmotionsPublic(BaseModel):
    present: list[Emotion] = Field(description="Plutchik emotions the text expresses, likeliest first; may be empty")
    scores: dict[Emotion, float] = Field(description="probability of each present emotion")


class TermSpan(BaseModel):
    text: str
    offset: int = Field(description="code-point offset into the original text")
    length: int


class AspectPublic(BaseModel):
    aspect: TermSpan = Field(description="what the customer judges (接客, バッテリーの持ち)")
    term: str = Field(description="the aspect as /v1/analytics/aspects counts it (NFKC, case-folded)")
    opinion: TermSpan | None = Field(
        description="the words that judge it (丁寧, 悪い); null when its sentence has none"
    )
    polarity: Literal["positive", "negative"]
    score: float = Field(description="the tagger's mean probability of the aspect's tags")


class WarningPublic(BaseModel):
    code: str
    message: str


class AnalysisPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sentiment: SentimentPublic
    sentences: list[SentencePublic]
    topics: list[TopicPublic]
    stage: StagePublic
    explanations: list[ExplanationPublic]
    model_versions: dict[str, str]
    warnings: list[WarningPublic]
    conversation: dict[str, Any] | None = Field(
        None, description="transcripts only: per-turn results, sentiment start/end, response times, resolved"
    )
    emotions: EmotionsPublic | None = Field(
        None, description="from a trained model only (koe-accurate); null when the rule analyzers scored the text"
    )
    aspects: list[AspectPublic] | None = Field(
        None,
        description="aspect–opinion pairs, from a trained model (koe-accurate, koe-fast); null from the rule "
        "analyzers. Measured exact-span F1 is modest (docs/evaluation.md): read them in aggregate, not one by one",
    )


EXAMPLE_TEXTS = [
    "配送は早かったけど、箱がボロボロでした。中身は無事だったので星3つです。",
    "サポートに何度電話してもつながらない…二度と使わない😡",
]


class AnalyzeDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(max_length=256)] | None = None
    text: str
    stage: StageId | None = None
    touchpoint: Annotated[str, StringConstraints(max_length=64)] | None = None


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"documents": [{"id": f"d{i}", "text": t} for i, t in enumerate(EXAMPLE_TEXTS)]}]
        },
    )

    documents: list[AnalyzeDocument] = Field(min_length=1)


class AnalyzedDocument(AnalysisPublic):
    id: str | None
    index: int


class DocumentError(BaseModel):
    id: str | None
    index: int
    code: str
    message: str


class AnalyzeResponse(BaseModel):
    documents: list[AnalyzedDocument]
    errors: list[DocumentError]
    model_versions: dict[str, str]
