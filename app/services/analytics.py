"""Analyst aggregates from stored rows: journey stage × topic × sentiment, NPS / CSAT / CES, trends, compare."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from app.core.time import next_period
from app.db.repositories import analytics as repo
from app.db.repositories.analytics import Calendar
from app.db.repositories.filters import FeedbackFilter
from app.schemas.analytics import (
    CesPublic,
    ComparePublic,
    CompareSide,
    CsatPublic,
    JourneyPublic,
    PointChange,
    ScoreGroup,
    ScoresPublic,
    SentimentCell,
    StageCell,
    StageTopicCell,
    TopicCell,
    TopicDifference,
    TrendPoint,
    TrendSeries,
    TrendsPublic,
)
from app.services import stats
from app.services.aggregates import (
    EMPTY_TALLY,
    NO_STAGE_LABEL,
    delta,
    nps_of,
    percent,
    scaled,
    sentiment_cell,
    stage_order,
    topic_names,
)
from app.services.keywords import characteristic_terms
from app.services.signals import pain_points
from models.journey import STAGES


def journey(*, session: Session, tenant_id: str, f: FeedbackFilter) -> JourneyPublic:
    return _journey(session=session, tenant_id=tenant_id, f=f)[0]


def _journey(*, session: Session, tenant_id: str, f: FeedbackFilter) -> tuple[JourneyPublic, dict[str, Any]]:
    """The journey and the overall tally row. Two grouped queries: items per stage, and item-topics per
    stage × topic. Every item has exactly one stage (or none), so the totals per topic and overall are sums
    of those rows, not more queries."""
    names = topic_names(session, tenant_id)
    by_stage = repo.tallies(session, tenant_id=tenant_id, f=f, by=["stage"])
    by_cell = repo.tallies(session, tenant_id=tenant_id, f=f, by=["stage", "topic"])
    stages = [
        StageCell(stage=r["stage"], label=STAGES.get(r["stage"] or "", NO_STAGE_LABEL), **sentiment_cell(r))
        for r in sorted(by_stage, key=lambda r: stage_order(r["stage"]))
    ]
    by_topic = _summed(by_cell, "topic")
    topics = [
        TopicCell(topic=topic, name=names.get(topic, topic), **sentiment_cell(r))
        for topic, r in sorted(by_topic.items(), key=lambda kv: (-kv[1]["n"], kv[0]))
    ]
    cells = [
        StageTopicCell(stage=r["stage"], topic=r["topic"], **sentiment_cell(r))
        for r in sorted(by_cell, key=lambda r: (stage_order(r["stage"]), r["topic"]))
    ]
    total = _total(by_stage)
    overall = SentimentCell(**sentiment_cell(total))
    return JourneyPublic(n=overall.n, overall=overall, stages=stages, topics=topics, cells=cells), total


def _summed(rows: list[dict[str, Any]], key: str | None) -> dict[Any, dict[str, Any]]:
    """Tally rows added up per value of `key` (None: all rows into one)."""
    totals: dict[Any, dict[str, Any]] = {}
    for row in rows:
        total = totals.setdefault(row[key] if key else None, dict.fromkeys(EMPTY_TALLY, 0))
        for measure in EMPTY_TALLY:
            total[measure] += row[measure]
    return totals


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """All tally rows of one partition (e.g. per stage) added up: the overall row without another query."""
    return _summed(rows, None).get(None, EMPTY_TALLY)


def score_group(row: dict[str, Any], group: str | None = None) -> ScoreGroup:
    return ScoreGroup(
        group=group,
        n=row["n"],
        nps=nps_of(row),
        csat=CsatPublic(
            n=row["csat_n"],
            satisfied=row["csat_satisfied"],
            score=percent(row["csat_satisfied"], row["csat_n"]),
            interval=scaled(stats.wilson(row["csat_satisfied"], row["csat_n"])),
        ),
        ces=CesPublic(n=row["ces_n"], mean=round(row["ces_sum"] / row["ces_n"], 3) if row["ces_n"] else None),
    )


def scores(*, session: Session, tenant_id: str, f: FeedbackFilter) -> ScoresPublic:
    def groups(rows: list[dict[str, Any]], by: str) -> list[ScoreGroup]:
        return [score_group(r, r[by]) for r in rows]

    def tallied(by: str) -> list[dict[str, Any]]:
        return repo.tallies(session, tenant_id=tenant_id, f=f, by=[by])

    by_stage = tallied("stage")
    return ScoresPublic(
        overall=score_group(_total(by_stage)),
        by_stage=sorted(groups(by_stage, "stage"), key=lambda g: stage_order(g.group)),
        by_channel=sorted(groups(tallied("channel"), "channel"), key=lambda g: -g.n),
        by_segment=sorted(groups(tallied("segment"), "segment"), key=lambda g: -g.n),
    )


def trends(
    *, session: Session, tenant_id: str, f: FeedbackFilter, interval: str, timezone: str, by: str | None
) -> TrendsPublic:
    """Buckets from the first to the last period with data; empty periods in between are shown with n = 0."""
    calendar = Calendar(interval, timezone)
    rows = repo.tallies(session, tenant_id=tenant_id, f=f, by=["period", *([by] if by else [])], calendar=calendar)
    by_key: dict[str | None, dict[date, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_key[row[by] if by else None][date.fromisoformat(row["period"])] = row
    periods = _periods([d for series in by_key.values() for d in series], interval)
    names = topic_names(session, tenant_id) if by == "topic" else dict(STAGES)
    keys = sorted(by_key, key=lambda k: stage_order(k) if by == "stage" else -sum(r["n"] for r in by_key[k].values()))
    series = [
        TrendSeries(
            key=key,
            name=names.get(key, key) if key else ("全体" if by is None else NO_STAGE_LABEL),
            points=_points(by_key[key], periods),
        )
        for key in keys
    ]
    return TrendsPublic(interval=interval, timezone=timezone, by=by, series=series)


def _periods(starts: Iterable[date], interval: str) -> list[date]:
    present = sorted(set(starts))
    if not present:
        return []
    periods, current = [], present[0]
    while current <= present[-1]:
        periods.append(current)
        current = next_period(current, interval)
    return periods


def _points(rows: dict[date, dict[str, Any]], periods: list[date]) -> list[TrendPoint]:
    points: list[TrendPoint] = []
    for period in periods:
        row = rows.get(period, EMPTY_TALLY)
        cell, nps = sentiment_cell(row), nps_of(row)
        change = None
        if points:
            before = points[-1]
            change = PointChange(
                n=cell["n"] - before.n,
                net_sentiment=delta(cell["net_sentiment"], before.net_sentiment),
                nps=delta(nps.score, before.nps.score),
            )
        points.append(TrendPoint(period=period, nps=nps, change=change, **cell))
    return points


def compare(
    *, session: Session, tenant_id: str, a: FeedbackFilter, b: FeedbackFilter, labels: tuple[str, str]
) -> ComparePublic:
    """Two segments or periods side by side, with the differences that matter and their intervals."""
    sides = []
    for label, f in zip(labels, (a, b), strict=True):
        side_journey, total = _journey(session=session, tenant_id=tenant_id, f=f)
        pains = pain_points(session=session, tenant_id=tenant_id, f=f, limit=5).items
        sides.append(CompareSide(label=label, scores=score_group(total), journey=side_journey, pain_points=pains))
    nps_a, nps_b = sides[0].scores.nps, sides[1].scores.nps
    return ComparePublic(
        a=sides[0],
        b=sides[1],
        nps_difference=delta(nps_a.score, nps_b.score),
        nps_difference_interval=scaled(
            stats.nps_difference_interval(
                (nps_a.promoters, nps_a.detractors, nps_a.n), (nps_b.promoters, nps_b.detractors, nps_b.n)
            )
        ),
        net_sentiment_difference=delta(sides[0].journey.overall.net_sentiment, sides[1].journey.overall.net_sentiment),
        topics=_topic_differences(sides[0], sides[1]),
        terms=characteristic_terms(session=session, tenant_id=tenant_id, segment=a, against=b),
    )


def _topic_differences(a: CompareSide, b: CompareSide) -> list[TopicDifference]:
    topics_a = {t.topic: t for t in a.journey.topics}
    topics_b = {t.topic: t for t in b.journey.topics}
    rows = []
    for topic in sorted(topics_a.keys() | topics_b.keys()):
        x_a = topics_a[topic].n if topic in topics_a else 0
        x_b = topics_b[topic].n if topic in topics_b else 0
        n_a, n_b = a.journey.n, b.journey.n
        name = (topics_a.get(topic) or topics_b[topic]).name
        share_a = round(x_a / n_a, 4) if n_a else None
        share_b = round(x_b / n_b, 4) if n_b else None
        rows.append(
            TopicDifference(
                topic=topic,
                name=name,
                share_a=share_a,
                share_b=share_b,
                difference=delta(share_a, share_b),
                difference_interval=stats.proportion_difference_interval(x_a, n_a, x_b, n_b),
            )
        )
    return sorted(rows, key=lambda r: -abs(r.difference or 0.0))
