from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import BasePipelineDep, ReadScope, SessionDep, TenantDep
from app.services import models_info

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[ReadScope])


@router.get("")
def list_models(request: Request, base: BasePipelineDep, session: SessionDep, tenant: TenantDep) -> dict[str, Any]:
    """Analysis pipelines: available here or not, versions, training provenance and metrics, the active one; and the
    caller's topic head (trained on its corrections) with the topic version it gives, when one is registered."""
    data = models_info.list_models(active_name=request.app.state.analyzer_name, active=base)
    head = models_info.topic_head(session=session, tenant_id=tenant, base=base)
    return {"data": data, "count": len(data), "topic_head": head}
