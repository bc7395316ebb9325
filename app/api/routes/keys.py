from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.deps import AdminScope, PrincipalDep, RowId, SessionDep
from app.core.errors import Forbidden
from app.schemas.keys import KeyCreate, KeyCreated, KeysPublic
from app.services import keys as service

router = APIRouter(prefix="/v1/keys", tags=["keys"], dependencies=[AdminScope])


@router.post("", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, session: SessionDep, principal: PrincipalDep) -> KeyCreated:
    """Create an API key for your own tenant; the key is in this answer only, never shown again."""
    tenant = body.tenant or principal.tenant_id
    if tenant != principal.tenant_id:
        raise Forbidden("an admin key creates keys for its own tenant only", code="other_tenant")
    key, token = service.create(session=session, tenant_id=tenant, name=body.name, scopes=body.scopes)
    return service.to_created(key, token)


@router.get("", response_model=KeysPublic)
def list_keys(session: SessionDep, principal: PrincipalDep) -> KeysPublic:
    """Your tenant's keys, revoked ones included, without their secrets."""
    keys = [service.to_public(k) for k in service.list_(session=session, tenant_id=principal.tenant_id)]
    return KeysPublic(data=keys, count=len(keys))


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: RowId, session: SessionDep, principal: PrincipalDep) -> Response:
    """Revoke a key: requests with it answer 401 from now on."""
    service.revoke(session=session, key_id=key_id, tenant_id=principal.tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
