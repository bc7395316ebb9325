"""Aggregate queries for analysts: grouped counts computed in the database, never row by row in Python."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.db.repositories.filters import FeedbackFilter, apply_filter, current_analysis_join
from app.db.tables import Analysis, AnalysisTopic, Feedback

SCORE_GROUPS: dict[str, Any] = {
    "stage": Analysis.stage,
    "channel": Feedback.channel,
    "segment": Feedback.segment,
}


def stage_sentiment_counts(session: Session, *, tenant_id: str, f: FeedbackFilter) -> list[tuple[str | None, str, int]]:
    stmt = current_analysis_join(select(Analysis.stage, Analysis.sentiment, func.count()).select_from(Feedback))
    stmt = apply_filter(stmt, tenant_id, f).group_by(Analysis.stage, Analysis.sentiment)
    return [(stage, sentiment, n) for stage, sentiment, n in session.execute(stmt)]


def stage_topic_sentiment_counts(
    session: Session, *, tenant_id: str, f: FeedbackFilter
) -> list[tuple[str | None, str, str, int]]:
    stmt = current_analysis_join(
        select(Analysis.stage, AnalysisTopic.topic, Analysis.sentiment, func.count()).select_from(Feedback)
    )
    stmt = stmt.join(AnalysisTopic, AnalysisTopic.analysis_id == Analysis.id)
    stmt = apply_filter(stmt, tenant_id, f).group_by(Analysis.stage, AnalysisTopic.topic, Analysis.sentiment)
    return [(stage, topic, sentiment, n) for stage, topic, sentiment, n in session.execute(stmt)]


def topic_names(session: Session, *, tenant_id: str) -> dict[str, str]:
    stmt = (
        select(AnalysisTopic.topic, func.max(AnalysisTopic.name))
        .where(AnalysisTopic.tenant_id == tenant_id)
        .group_by(AnalysisTopic.topic)
    )
    return {topic: name for topic, name in session.execute(stmt)}


def score_summary(session: Session, *, tenant_id: str, f: FeedbackFilter, by: str | None) -> list[dict[str, Any]]:
    """Promoter/detractor/CSAT/CES tallies, overall (by=None) or per stage, channel or segment."""
    key = SCORE_GROUPS[by] if by else None
    columns = [
        func.count(Feedback.nps).label("nps_n"),
        func.sum(case((Feedback.nps >= 9, 1), else_=0)).label("promoters"),
        func.sum(case((Feedback.nps <= 6, 1), else_=0)).label("detractors"),
        func.count(Feedback.csat).label("csat_n"),
        func.sum(case((Feedback.csat >= 4, 1), else_=0)).label("csat_satisfied"),
        func.count(Feedback.ces).label("ces_n"),
        func.avg(Feedback.ces).label("ces_mean"),
        func.count().label("n"),
    ]
    stmt = select(*([key.label("group")] if key is not None else []), *columns).select_from(Feedback)
    stmt = apply_filter(current_analysis_join(stmt), tenant_id, f)
    if key is not None:
        stmt = stmt.group_by(key)
    return [dict(row._mapping) for row in session.execute(stmt)]
