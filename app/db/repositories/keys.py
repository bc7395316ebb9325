"""API keys. `by_prefix` is the one query across tenants: it is how a request's tenant is found."""

from __future__ import annotations

from sqlalchemy import select
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
