from __future__ import annotations

from fastapi import APIRouter, Request

from app.api.deps import AdminScope, ReadScope, SessionDep, TenantDep
from app.services import taxonomy as service
from models.taxonomy import Taxonomy

router = APIRouter(prefix="/v1/taxonomy", tags=["taxonomy"])

YAML_EXAMPLE = """name: hotel
version: 1
topics:
  - id: room
    label: 客室
    keywords: [部屋, 客室, ベッド, 枕]
  - id: breakfast
    label: 朝食
    keywords: [朝食, 朝ごはん, バイキング]
"""


@router.get("", response_model=Taxonomy, dependencies=[ReadScope])
def get_taxonomy(session: SessionDep, tenant: TenantDep) -> Taxonomy:
    """The topic taxonomy new analyses use: the tenant's own, or koe's default."""
    return service.active(session=session, tenant_id=tenant)


@router.put(
    "",
    response_model=Taxonomy,
    dependencies=[AdminScope],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": Taxonomy.model_json_schema(), "example": YAML_EXAMPLE},
                "application/json": {"schema": Taxonomy.model_json_schema()},
            },
        }
    },
)
async def put_taxonomy(request: Request, session: SessionDep, tenant: TenantDep) -> Taxonomy:
    """Replace the tenant's taxonomy with a YAML or JSON one; stored items keep their earlier topics."""
    return service.activate(session=session, tenant_id=tenant, raw=await request.body())


@router.delete("", response_model=Taxonomy, dependencies=[AdminScope])
def reset_taxonomy(session: SessionDep, tenant: TenantDep) -> Taxonomy:
    """Go back to koe's default taxonomy."""
    return service.reset(session=session, tenant_id=tenant)
