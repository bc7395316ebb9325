"""Per-tenant setting overrides."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db.tables import TenantSetting


def get(session: Session, *, tenant_id: str) -> TenantSetting | None:
    return session.get(TenantSetting, tenant_id)


def set_pii_redaction(session: Session, *, tenant_id: str, mode: str | None) -> TenantSetting:
    row = get(session, tenant_id=tenant_id) or TenantSetting(tenant_id=tenant_id)
    row.pii_redaction = mode
    session.add(row)
    return row
