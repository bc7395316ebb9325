"""The feedback filter every list and aggregate accepts, applied in one place."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, exists, false, select

from app.db.tables import Analysis, AnalysisTopic, Feedback


@dataclass(frozen=True)
class FeedbackFilter:
    source: str | None = None
    channel: str | None = None
    stage: str | None = None  # "" = items without a stage
    topic: str | None = None
    sentiment: str | None = None
    segment: str | None = None
    written_from: datetime | None = None
    written_to: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # Inclusive score ranges: (min, max), either end None.
    nps: tuple[int | None, int | None] = (None, None)
    csat: tuple[int | None, int | None] = (None, None)
    ces: tuple[int | None, int | None] = (None, None)

    def with_period(self, written_from: datetime | None, written_to: datetime | None) -> FeedbackFilter:
        return replace(self, written_from=written_from, written_to=written_to)


def current_analysis_join(stmt: Select) -> Select:
    """Join each feedback row to its current analysis (every stored item has one: ingest analyzes first)."""
    return stmt.join(Analysis, and_(Analysis.feedback_id == Feedback.id, Analysis.is_current.is_(True)))


def apply_filter(stmt: Select, tenant_id: str, f: FeedbackFilter) -> Select:
    """Add the tenant and filter conditions; the statement must already join the current Analysis."""
    return stmt.where(*scope_conditions(tenant_id, f), *segment_conditions(f))


def apply_complement(stmt: Select, tenant_id: str, f: FeedbackFilter) -> Select:
    """The rest: same tenant and period, but not the segment that the other filters describe
    (IS NOT TRUE, so that a row whose segment column is NULL belongs to the rest)."""
    segment = segment_conditions(f)
    stmt = stmt.where(*scope_conditions(tenant_id, f))
    return stmt.where(and_(*segment).is_not(True)) if segment else stmt.where(false())


def scope_conditions(tenant_id: str, f: FeedbackFilter) -> list[ColumnElement[bool]]:
    conditions = [Feedback.tenant_id == tenant_id]
    if f.written_from is not None:
        conditions.append(Feedback.written_at >= f.written_from)
    if f.written_to is not None:
        conditions.append(Feedback.written_at < f.written_to)
    return conditions


def segment_conditions(f: FeedbackFilter) -> list[ColumnElement[bool]]:
    column_equals = {
        Feedback.source: f.source,
        Feedback.channel: f.channel,
        Feedback.segment: f.segment,
        Analysis.stage: f.stage or None,
        Analysis.sentiment: f.sentiment,
    }
    conditions = [column == value for column, value in column_equals.items() if value is not None]
    if f.stage == "":  # "" asks for items without a stage
        conditions.append(Analysis.stage.is_(None))
    for column, (low, high) in ((Feedback.nps, f.nps), (Feedback.csat, f.csat), (Feedback.ces, f.ces)):
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column <= high)
    if f.topic is not None:
        # Correlated to Analysis only: a query grouped by topic joins AnalysisTopic too, and auto-correlation
        # would then take it out of the subquery (no FROM left).
        conditions.append(
            exists(
                select(AnalysisTopic.analysis_id)
                .where(AnalysisTopic.analysis_id == Analysis.id, AnalysisTopic.topic == f.topic)
                .correlate(Analysis)
            )
        )
    conditions += [Feedback.meta[key].as_string() == value for key, value in f.metadata.items()]
    return conditions
