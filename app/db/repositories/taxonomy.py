"""Taxonomy versions per tenant."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.repositories.tenants import forget_profile
from app.db.tables import TaxonomyVersion


def active(session: Session, *, tenant_id: str) -> TaxonomyVersion | None:
    stmt = (
        select(TaxonomyVersion)
        .where(TaxonomyVersion.tenant_id == tenant_id, TaxonomyVersion.is_active.is_(True))
        .order_by(TaxonomyVersion.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def get(session: Session, taxonomy_id: int) -> TaxonomyVersion | None:
    return session.get(TaxonomyVersion, taxonomy_id)


def deactivate_all(session: Session, *, tenant_id: str) -> None:
    forget_profile(session, tenant_id=tenant_id)
    session.execute(update(TaxonomyVersion).where(TaxonomyVersion.tenant_id == tenant_id).values(is_active=False))


def add(session: Session, row: TaxonomyVersion) -> TaxonomyVersion:
    forget_profile(session, tenant_id=row.tenant_id)
    session.add(row)
    return row
