from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import SettingsDep
from app.services import models_info

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("")
def list_models(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Analysis pipelines: available here or not, versions, training provenance and metrics, the active one."""
    data = models_info.list_models(active_name=settings.analyzer, active=request.app.state.pipeline)
    return {"data": data, "count": len(data)}
