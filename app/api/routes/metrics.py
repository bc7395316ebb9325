from __future__ import annotations

from fastapi import APIRouter, Response

from app.core import metrics

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics() -> Response:
    """Prometheus text exposition; open like /healthz (no API key, no rate limit)."""
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
