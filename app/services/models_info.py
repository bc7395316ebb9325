"""Which analysis pipelines exist here, their versions and measured quality, and which one is serving."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from app.services import taxonomy
from models.pipeline import AnalysisPipeline
from models.registry import ARTIFACTS, available, names


def _card(name: str) -> dict[str, Any]:
    path = ARTIFACTS / f"koe-{name}" / "koe_model.json"
    if not path.exists():
        return {}
    spec = json.loads(path.read_text(encoding="utf-8"))
    return {"version": spec["version"], "base_model": spec["base_model"], "provenance": spec.get("provenance", {})}


def list_models(*, active_name: str, active: AnalysisPipeline) -> list[dict[str, Any]]:
    ready = set(available())
    return [
        {
            "name": name,
            "available": name in ready,
            "active": name == active_name,
            "model_versions": active.model_versions if name == active_name else {},
            **_card(name),
        }
        for name in names()
    ]


def topic_head(*, session: Session, tenant_id: str, base: AnalysisPipeline) -> dict[str, Any] | None:
    """The tenant's registered topic head (pipelines.train --tenant), without its weights, and whether it serves
    (it does not for another taxonomy version or another model than the one it was trained with)."""
    row = taxonomy.topic_head(session=session, tenant_id=tenant_id)
    if row is None:
        return None
    return {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "topics": row.topics,
        "examples": row.examples,
        "metrics": row.metrics,
        "model_version": row.model_version,
        "taxonomy_digest": row.taxonomy_digest,
        "serving": taxonomy.serves_topic_head(session=session, base=base, tenant_id=tenant_id),
    }
