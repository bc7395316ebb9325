"""The feedback filter every list and aggregate accepts, applied in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, and_, exists, select

from app.db.tables import Analysis, AnalysisTopic, Feedback


@dataclass(frozen=True)
class FeedbackFilter:
    source: str | None = None
    channel: str | None = None
    stage: str | None = None
    topic: str | None = None
    sentiment: str | None = None
    segment: str | None = None
    written_from: datetime | None = None
    written_to: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def current_analysis_join(stmt: Select) -> Select:
    """Join each feedback row to its current analysis (every stored item has one: ingest analyzes first)."""
    return stmt.join(Analysis, and_(Analysis.feedback_id == Feedback.id, Analysis.is_current.is_(True)))


def apply_filter(stmt: Select, tenant_id: str, f: FeedbackFilter) -> Select:
    """Add the tenant and filter conditions; the statement must already join the current Analysis."""
    conditions = [Feedback.tenant_id == tenant_id]
    column_equals = {
        Feedback.source: f.source,
        Feedback.channel: f.channel,
        Feedback.segment: f.segment,
        Analysis.stage: f.stage,
        Analysis.sentiment: f.sentiment,
    }
    conditions += [column == value for column, value in column_equals.items() if value is not None]
    if f.written_from is not None:
        conditions.append(Feedback.written_at >= f.written_from)
    if f.written_to is not None:
        conditions.append(Feedback.written_at < f.written_to)
    if f.topic is not None:
        conditions.append(
            exists(
                select(AnalysisTopic.analysis_id).where(
                    AnalysisTopic.analysis_id == Analysis.id, AnalysisTopic.topic == f.topic
                )
            )
        )
    conditions += [Feedback.meta[key].as_string() == value for key, value in f.metadata.items()]
    return stmt.where(*conditions)
