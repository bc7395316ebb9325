from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import ReadScope
from app.services import models_info

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[ReadScope])


@router.get("")
def list_models(request: Request) -> dict[str, Any]:
    """Analysis pipelines: available here or not, versions, training provenance and metrics, the active one."""
    data = models_info.list_models(active_name=request.app.state.analyzer_name, active=request.app.state.pipeline)
    return {"data": data, "count": len(data)}
