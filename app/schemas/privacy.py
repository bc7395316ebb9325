"""API shapes of the privacy settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PrivacyPublic(BaseModel):
    pii_redaction: Literal["off", "mask", "hash"] = Field(
        description="off; mask (〔電話番号〕); hash (〔電話番号:3f9a2c1b〕, keyed HMAC: equal values share a token)"
    )
    source: Literal["tenant", "default"] = Field(description="tenant override, or KOE_PII_REDACTION")
    custom_types: list[str] = Field(description="extra PII types from KOE_PII_PATTERNS")


class PrivacyUpdate(BaseModel):
    model_config = {"extra": "forbid"}

    pii_redaction: Literal["off", "mask", "hash"] | None = Field(
        description="the tenant's mode; null = follow KOE_PII_REDACTION"
    )
