"""Tenants' topic heads: the newest active one is served."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db.repositories.tenants import forget_profile
from app.db.tables import TopicHead


def get(session: Session, head_id: int) -> TopicHead | None:
    return session.get(TopicHead, head_id)


def register(session: Session, row: TopicHead) -> TopicHead:
    """Make `row` the tenant's active head; earlier heads stay for the record."""
    forget_profile(session, tenant_id=row.tenant_id)
    session.execute(update(TopicHead).where(TopicHead.tenant_id == row.tenant_id).values(is_active=False))
    row.is_active = True
    session.add(row)
    return row
