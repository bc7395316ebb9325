"""API keys. `by_prefix` is the one query across tenants: it is how a request's tenant is found."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.db.tables import ApiKey


def by_prefix(session: Session, prefix: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()


def get(session: Session, *, key_id: int, tenant_id: str | None) -> ApiKey | None:
    """The key with this id in this tenant (tenant_id None: in any tenant, for the operator's CLI)."""
    stmt = select(ApiKey).where(ApiKey.id == key_id)
    if tenant_id is not None:
        stmt = stmt.where(ApiKey.tenant_id == tenant_id)
    return session.scalars(stmt).first()


def list_(session: Session, *, tenant_id: str | None) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if tenant_id is not None:
        stmt = stmt.where(ApiKey.tenant_id == tenant_id)
    return list(session.scalars(stmt))


def add(session: Session, key: ApiKey) -> ApiKey:
    session.add(key)
    return key


def touch(session: Session, *, key_id: int, now: datetime, stale_before: datetime) -> None:
    """Record use, unless a concurrent request already did (one conditional UPDATE, no read-modify-write)."""
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale_before))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
