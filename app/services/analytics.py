"""Analyst aggregates: journey stage × topic × sentiment and NPS / CSAT / CES, from stored rows."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from app.db.repositories import analytics as repo
from app.db.repositories.filters import FeedbackFilter
from app.schemas.analytics import (
    CesPublic,
    CsatPublic,
    JourneyPublic,
    NpsPublic,
    ScoreGroup,
    ScoresPublic,
    StageCell,
    StageTopicCell,
    TopicCell,
)
from app.services import stats
from models.journey import STAGES
from models.taxonomy import default_taxonomy

SENTIMENTS = ("positive", "neutral", "negative", "mixed")
NPS_INDICATIVE_BELOW = 400  # below this an NPS is indicative only (its 95 % interval spans ±5–10 points)
NO_STAGE_LABEL = "未分類"


def _sentiment_cell(counts: dict[str, int]) -> dict[str, Any]:
    n = sum(counts.values())
    shares = {s: round(counts.get(s, 0) / n, 4) if n else 0.0 for s in SENTIMENTS}
    net = round(shares["positive"] - shares["negative"], 4) if n else None
    return {
        "n": n,
        **{s: counts.get(s, 0) for s in SENTIMENTS},
        "shares": shares,
        "share_intervals": {s: stats.wilson(counts.get(s, 0), n) for s in SENTIMENTS} if n else {},
        "net_sentiment": net,
        "net_sentiment_interval": stats.difference_interval(counts.get("positive", 0), counts.get("negative", 0), n),
        "low_n": n < stats.LOW_N,
    }


def _stage_key(stage: str | None) -> int:
    return list(STAGES).index(stage) if stage in STAGES else len(STAGES)


def journey(*, session: Session, tenant_id: str, f: FeedbackFilter) -> JourneyPublic:
    by_stage: dict[str | None, dict[str, int]] = defaultdict(dict)
    for stage, sentiment, n in repo.stage_sentiment_counts(session, tenant_id=tenant_id, f=f):
        by_stage[stage][sentiment] = n
    by_cell: dict[tuple[str | None, str], dict[str, int]] = defaultdict(dict)
    by_topic: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for stage, topic, sentiment, n in repo.stage_topic_sentiment_counts(session, tenant_id=tenant_id, f=f):
        by_cell[(stage, topic)][sentiment] = n
        by_topic[topic][sentiment] += n
    names = default_taxonomy().labels() | repo.topic_names(session, tenant_id=tenant_id)
    stages = [
        StageCell(stage=s, label=STAGES.get(s or "", NO_STAGE_LABEL), **_sentiment_cell(c))
        for s, c in sorted(by_stage.items(), key=lambda kv: _stage_key(kv[0]))
    ]
    topics = sorted(
        (TopicCell(topic=t, name=names.get(t, t), **_sentiment_cell(c)) for t, c in by_topic.items()),
        key=lambda cell: -cell.n,
    )
    cells = [
        StageTopicCell(stage=s, topic=t, **_sentiment_cell(c))
        for (s, t), c in sorted(by_cell.items(), key=lambda kv: (_stage_key(kv[0][0]), kv[0][1]))
    ]
    return JourneyPublic(n=sum(c.n for c in stages), stages=stages, topics=topics, cells=cells)


def _scaled(interval: tuple[float, float] | None) -> tuple[float, float] | None:
    return (round(100 * interval[0], 2), round(100 * interval[1], 2)) if interval else None


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _score_group(row: dict[str, Any]) -> ScoreGroup:
    nps_n, promoters, detractors = row["nps_n"], row["promoters"] or 0, row["detractors"] or 0
    nps_score = round(100.0 * (promoters - detractors) / nps_n, 2) if nps_n else None
    csat_satisfied = row["csat_satisfied"] or 0
    ces_mean = round(float(row["ces_mean"]), 3) if row["ces_mean"] is not None else None
    return ScoreGroup(
        group=row.get("group"),
        n=row["n"],
        nps=NpsPublic(
            n=nps_n,
            promoters=promoters,
            passives=nps_n - promoters - detractors,
            detractors=detractors,
            score=nps_score,
            interval=_scaled(stats.difference_interval(promoters, detractors, nps_n)),
            indicative=nps_n < NPS_INDICATIVE_BELOW,
        ),
        csat=CsatPublic(
            n=row["csat_n"],
            satisfied=csat_satisfied,
            score=_percent(csat_satisfied, row["csat_n"]),
            interval=_scaled(stats.wilson(csat_satisfied, row["csat_n"])),
        ),
        ces=CesPublic(n=row["ces_n"], mean=ces_mean),
    )


def scores(*, session: Session, tenant_id: str, f: FeedbackFilter) -> ScoresPublic:
    def groups(by: str | None) -> list[ScoreGroup]:
        return [_score_group(r) for r in repo.score_summary(session, tenant_id=tenant_id, f=f, by=by)]

    by_stage = sorted(groups("stage"), key=lambda g: _stage_key(g.group))
    by_channel = sorted(groups("channel"), key=lambda g: -g.n)
    by_segment = sorted(groups("segment"), key=lambda g: -g.n)
    return ScoresPublic(overall=groups(None)[0], by_stage=by_stage, by_channel=by_channel, by_segment=by_segment)
