"""API shapes of the analyst aggregates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.time import Moment
from app.schemas.nul import RefusesNul


class SentimentCell(BaseModel):
    n: int = Field(description="items in the cell")
    positive: int
    neutral: int
    negative: int
    mixed: int
    shares: dict[str, float] = Field(description="count / n per sentiment")
    share_intervals: dict[str, tuple[float, float] | None] = Field(description="Wilson 95 % interval per share")
    net_sentiment: float | None = Field(description="positive share − negative share; null when n = 0")
    net_sentiment_interval: tuple[float, float] | None = Field(description="95 % interval (trinomial variance)")
    low_n: bool = Field(description="n < 30: the shares are shown but too uncertain to act on")


class StageCell(SentimentCell):
    stage: str | None = Field(description="stage id; null = no stage given or detected")
    label: str


class TopicCell(SentimentCell):
    topic: str
    name: str


class StageTopicCell(SentimentCell):
    stage: str | None
    topic: str


class JourneyPublic(BaseModel):
    n: int = Field(description="items matching the filters")
    overall: SentimentCell = Field(description="all items matching the filters")
    stages: list[StageCell] = Field(description="journey order 認知→推奨, then items without a stage")
    topics: list[TopicCell] = Field(description="an item counts once for each of its topics")
    cells: list[StageTopicCell]


class NpsPublic(BaseModel):
    n: int
    promoters: int
    passives: int
    detractors: int
    score: float | None = Field(description="% promoters (9–10) − % detractors (0–6); null when n = 0")
    interval: tuple[float, float] | None = Field(description="95 % interval in NPS points (trinomial variance)")
    indicative: bool = Field(description="fewer than 400 answers: indicative only; ≥ 2,000 is the low-error regime")


class CsatPublic(BaseModel):
    n: int
    satisfied: int
    score: float | None = Field(description="% of answers 4–5")
    interval: tuple[float, float] | None = Field(description="Wilson 95 % interval, in %")


class CesPublic(BaseModel):
    n: int
    mean: float | None


class ScoreGroup(BaseModel):
    group: str | None = Field(description="the stage, channel or segment; null = not set")
    n: int = Field(description="items in the group, with or without scores")
    nps: NpsPublic
    csat: CsatPublic
    ces: CesPublic


class ScoresPublic(BaseModel):
    overall: ScoreGroup
    by_stage: list[ScoreGroup]
    by_channel: list[ScoreGroup]
    by_segment: list[ScoreGroup]


class Period(BaseModel):
    start: datetime = Field(description="inclusive")
    end: datetime = Field(description="exclusive")


class PointChange(BaseModel):
    n: int = Field(description="items this period − previous period")
    net_sentiment: float | None
    nps: float | None = Field(description="NPS points this period − previous period")


class TrendPoint(SentimentCell):
    period: date = Field(description="first local day of the bucket (weeks start on Monday)")
    nps: NpsPublic
    change: PointChange | None = Field(description="vs the previous bucket; null for the first")


class TrendSeries(BaseModel):
    key: str | None = Field(description="topic or stage id of the series; null = everything")
    name: str
    points: list[TrendPoint]


class TrendsPublic(BaseModel):
    interval: str
    timezone: str
    by: str | None
    series: list[TrendSeries]


class Quote(BaseModel):
    feedback_id: int
    written_at: datetime
    text: str = Field(description="the sentence that carries the sentiment, as stored (redacted when redaction is on)")
    sentiment: str


class PainPoint(SentimentCell):
    topic: str
    name: str
    stage: str | None = Field(None, description="set when ranking stage × topic cells")
    previous_n: int
    previous_negative: int
    negative_change: int = Field(description="negative items this period − previous period")
    negative_share_change: float | None
    negative_share_change_interval: tuple[float, float] | None = Field(description="Newcombe 95 % interval")
    quotes: list[Quote]


class PainPointsPublic(BaseModel):
    period: Period
    previous: Period
    rank_by: str
    items: list[PainPoint]


class Driver(BaseModel):
    topic: str
    name: str
    n_with: int = Field(description="respondents whose feedback has the topic")
    n_without: int
    score_with: float | None = Field(description="NPS (points) or CSAT (% 4–5) of respondents with the topic")
    score_without: float | None
    difference: float | None = Field(description="score_with − score_without, in points")
    difference_interval: tuple[float, float] | None
    detractor_rate_with: float | None = Field(None, description="NPS only: share of 0–6 answers")
    detractor_rate_without: float | None = None
    detractor_rate_difference_interval: tuple[float, float] | None = None
    coefficient: float | None = Field(description="regression: points associated with the topic, others held fixed")
    coefficient_interval: tuple[float, float] | None
    low_n: bool


class Regression(BaseModel):
    n: int = Field(description="newest respondents used (the regression runs on at most this many)")
    topics: int
    r_squared: float
    method: str


class DriversPublic(BaseModel):
    target: str
    n: int = Field(description="respondents with a score in the filters")
    regression: Regression | None = Field(description="null when n is too small for the number of topics")
    items: list[Driver]


class Emerging(BaseModel):
    kind: str = Field(description="topic or term")
    key: str
    name: str
    recent_n: int
    baseline_n: int
    recent_share: float = Field(description="share of items in the recent window that mention it")
    baseline_share: float
    volume_p: float = Field(description="one-sided p-value, BH-adjusted across all candidates")
    recent_negative_share: float | None
    baseline_negative_share: float | None
    negativity_p: float | None = Field(description="one-sided p-value, BH-adjusted; topics only")
    flagged: bool
    reasons: list[str]


class EmergingPublic(BaseModel):
    recent: Period
    baseline: Period
    test: str
    alpha: float
    items: list[Emerging]


class Term(BaseModel):
    term: str
    count: int = Field(description="documents of the segment using the term")
    rest_count: int
    share: float
    rest_share: float
    z: float = Field(description="log-odds ratio with an informative Dirichlet prior, divided by its SE")


class TermPair(BaseModel):
    a: str
    b: str
    count: int = Field(description="segment documents using both")
    jaccard: float


class KeywordsPublic(BaseModel):
    documents: int = Field(description="segment documents read (the newest, up to the sample limit)")
    rest_documents: int
    method: str
    terms: list[Term]
    pairs: list[TermPair]


class FilterBody(RefusesNul):
    """The filters of the query string, as a JSON object (for compare)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    label: str | None = None
    source: str | None = None
    channel: str | None = None
    stage: str | None = None
    topic: str | None = None
    sentiment: Literal["positive", "neutral", "negative", "mixed"] | None = None
    segment: str | None = None
    written_from: Moment | None = Field(None, alias="from")
    written_to: Moment | None = Field(None, alias="to")
    meta: list[str] = Field(default_factory=list, description="key=value")
    nps_min: int | None = Field(None, ge=0, le=10)
    nps_max: int | None = Field(None, ge=0, le=10)
    csat_min: int | None = Field(None, ge=0, le=10)
    csat_max: int | None = Field(None, ge=0, le=10)
    ces_min: int | None = Field(None, ge=0, le=10)
    ces_max: int | None = Field(None, ge=0, le=10)


class CompareRequest(BaseModel):
    model_config = {"extra": "forbid"}

    a: FilterBody
    b: FilterBody


class CompareSide(BaseModel):
    label: str
    scores: ScoreGroup
    journey: JourneyPublic
    pain_points: list[PainPoint]


class TopicDifference(BaseModel):
    topic: str
    name: str
    share_a: float | None
    share_b: float | None
    difference: float | None
    difference_interval: tuple[float, float] | None


class ComparePublic(BaseModel):
    a: CompareSide
    b: CompareSide
    nps_difference: float | None = Field(description="NPS(a) − NPS(b), points")
    nps_difference_interval: tuple[float, float] | None
    net_sentiment_difference: float | None
    topics: list[TopicDifference] = Field(description="share of items with each topic, a − b (Newcombe interval)")
    terms: KeywordsPublic = Field(description="terms characteristic of a against b")


class EmotionCount(BaseModel):
    emotion: str = Field(description="Plutchik emotion id")
    label: str
    n: int = Field(description="items expressing it")
    share: float | None = Field(description="n / scored; null when no item was scored for emotions")


class EmotionStage(BaseModel):
    stage: str | None = Field(description="stage id; null = no stage given or detected")
    label: str
    n: int
    scored: int
    emotions: list[EmotionCount]


class EmotionBreakdownPublic(BaseModel):
    n: int = Field(description="items matching the filters")
    scored: int = Field(
        description="items whose current analysis carries emotions (scored by a trained model; rule analyses and "
        "items scored before emotions existed do not): every share is of these"
    )
    emotions: list[EmotionCount] = Field(description="all eight, in Plutchik's order")
    stages: list[EmotionStage] = Field(description="journey order 認知→推奨, then items without a stage")


class AspectCount(BaseModel):
    term: str = Field(description="the aspect, NFKC-normalized and case-folded (ＵＳＢケーブル → usbケーブル)")
    mentions: int = Field(description="aspect–opinion pairs naming it")
    items: int = Field(description="items naming it at least once")
    positive: int = Field(description="mentions judged positive")
    negative: int = Field(description="mentions judged negative")
    negative_share: float = Field(description="negative / mentions")


class AspectRankingPublic(BaseModel):
    n: int = Field(description="items matching the filters")
    scored: int = Field(
        description="items whose current analysis carries aspects (a model with an aspect tagger scored them)"
    )
    rank_by: str
    aspects: list[AspectCount]
