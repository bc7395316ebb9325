"""PII redaction of customer text: applied before storage and before analysis, so that neither stored rows,
analysis results (sentences, quotes, explanations) nor anything derived from them carry what was redacted."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Literal, cast

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import FieldError, Invalid
from app.db.repositories import tenants as repo
from app.db.session import write_transaction
from app.schemas.privacy import PrivacyPublic
from models.pii import PiiDetector, redact

Mode = Literal["off", "mask", "hash"]


@lru_cache(maxsize=8)
def _detector(patterns_json: str) -> PiiDetector:
    return PiiDetector(json.loads(patterns_json))


def detector(settings: Settings) -> PiiDetector:
    return _detector(json.dumps(settings.pii_patterns, sort_keys=True))


def mode_for(session: Session, *, tenant_id: str, settings: Settings) -> tuple[Mode, str]:
    """(mode, where it comes from: "tenant" or "default")."""
    override = repo.profile(session, tenant_id=tenant_id).pii_redaction
    if override:
        return cast(Mode, override), "tenant"
    return settings.pii_redaction, "default"


def redactor(session: Session, *, tenant_id: str, settings: Settings) -> Callable[[str], str]:
    """The tenant's redaction as a text → text function (the identity when redaction is off)."""
    return redaction(mode_for(session, tenant_id=tenant_id, settings=settings)[0], settings)


def redaction(mode: Mode, settings: Settings) -> Callable[[str], str]:
    """Redaction in `mode` as a text → text function."""
    if mode == "off":
        return _identity
    found, key = detector(settings), settings.pii_hash_key.encode()
    return lambda text: redact(text, found.find(text), mode, key=key)


def _identity(text: str) -> str:
    return text


def describe(session: Session, *, tenant_id: str, settings: Settings) -> PrivacyPublic:
    mode, source = mode_for(session, tenant_id=tenant_id, settings=settings)
    return PrivacyPublic(pii_redaction=mode, source=source, custom_types=sorted(settings.pii_patterns))


@write_transaction
def set_mode(session: Session, *, tenant_id: str, settings: Settings, mode: Mode | None) -> PrivacyPublic:
    if mode == "hash" and not settings.pii_hash_key:
        raise Invalid(
            "hash mode needs a secret key: set KOE_PII_HASH_KEY on the server",
            [FieldError("/pii_redaction", "KOE_PII_HASH_KEY is not set", "hash_key_missing")],
            code="hash_key_missing",
        )
    repo.set_pii_redaction(session, tenant_id=tenant_id, mode=mode)
    session.commit()
    return describe(session, tenant_id=tenant_id, settings=settings)
