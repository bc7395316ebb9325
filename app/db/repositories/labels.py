"""Analysts' label corrections, scoped by tenant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.tables import FeedbackLabel


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
