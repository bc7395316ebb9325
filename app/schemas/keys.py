"""API shapes of API keys: the secret appears in KeyCreated only, once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.schemas.nul import RefusesNul

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")
TenantId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class KeyBase(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        description="what the key is for, e.g. zendesk-sync"
    )
    scopes: list[Scope] = Field(min_length=1, description="ingest, read, admin (admin implies every scope)")

    @field_validator("scopes")
    @classmethod
    def _distinct(cls, scopes: list[Scope]) -> list[Scope]:
        return [s for s in SCOPES if s in scopes]


class KeyCreate(KeyBase, RefusesNul):
    model_config = ConfigDict(extra="forbid")

    tenant: TenantId | None = Field(None, description="the tenant of the new key; only the caller's own")


class KeyPublic(KeyBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant_id: str
    prefix: str = Field(description="the key starts with koe_<prefix>_; shown to tell keys apart")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="updated at most once a minute")


class KeyCreated(KeyPublic):
    key: str = Field(description="the API key: shown in this answer only, never again")


class KeysPublic(BaseModel):
    data: list[KeyPublic]
    count: int
