from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import AdminScope, ReadScope, SessionDep, SettingsDep, TenantDep
from app.schemas.privacy import PrivacyPublic, PrivacyUpdate
from app.services import privacy as service

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])


@router.get("", response_model=PrivacyPublic, dependencies=[ReadScope])
def get_privacy(session: SessionDep, tenant: TenantDep, settings: SettingsDep) -> PrivacyPublic:
    """How this tenant's customer text is redacted before it is stored or analyzed."""
    return service.describe(session=session, tenant_id=tenant, settings=settings)


@router.put("", response_model=PrivacyPublic, dependencies=[AdminScope])
def set_privacy(body: PrivacyUpdate, session: SessionDep, tenant: TenantDep, settings: SettingsDep) -> PrivacyPublic:
    """Override the redaction mode for this tenant (applies to items stored from now on)."""
    return service.set_mode(session=session, tenant_id=tenant, settings=settings, mode=body.pii_redaction)
