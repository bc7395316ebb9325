"""API shapes of the analyst aggregates."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
