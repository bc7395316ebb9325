from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import FilterDep, SessionDep, TenantDep
from app.schemas.analytics import JourneyPublic, ScoresPublic
from app.services import analytics as service

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


@router.get("/journey", response_model=JourneyPublic)
def journey(session: SessionDep, tenant: TenantDep, f: FilterDep) -> JourneyPublic:
    """Counts and sentiment shares per journey stage, per topic and per stage × topic."""
    return service.journey(session=session, tenant_id=tenant, f=f)


@router.get("/scores", response_model=ScoresPublic)
def scores(session: SessionDep, tenant: TenantDep, f: FilterDep) -> ScoresPublic:
    """NPS, CSAT (% 4–5) and CES mean with their n, overall and by stage, channel and segment."""
    return service.scores(session=session, tenant_id=tenant, f=f)
