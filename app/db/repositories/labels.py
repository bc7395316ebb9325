"""Analysts' label corrections, scoped by tenant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.tables import Feedback, FeedbackLabel


def add(session: Session, label: FeedbackLabel) -> FeedbackLabel:
    session.add(label)
    return label


def of_item(session: Session, *, tenant_id: str, feedback_id: int) -> Sequence[FeedbackLabel]:
    stmt = (
        select(FeedbackLabel)
        .where(FeedbackLabel.tenant_id == tenant_id, FeedbackLabel.feedback_id == feedback_id)
        .order_by(FeedbackLabel.id)
    )
    return session.scalars(stmt).all()


def topic_corrections(session: Session, *, tenant_id: str) -> list[tuple[str, list[str]]]:
    """(item text, topics) for every item whose newest topic correction is the current one; an empty list of topics
    is a correction too (the item has none of the taxonomy's topics)."""
    newest = (
        select(FeedbackLabel.feedback_id, func.max(FeedbackLabel.id).label("id"))
        .where(FeedbackLabel.tenant_id == tenant_id, FeedbackLabel.topics.is_not(None))
        .group_by(FeedbackLabel.feedback_id)
        .subquery()
    )
    stmt = (
        select(Feedback.text, FeedbackLabel.topics)
        .join(newest, FeedbackLabel.id == newest.c.id)
        .join(Feedback, Feedback.id == FeedbackLabel.feedback_id)
        .where(Feedback.tenant_id == tenant_id)
        .order_by(FeedbackLabel.feedback_id)
    )
    return [(text, list(topics or [])) for text, topics in session.execute(stmt)]
