"""API keys: create (the plaintext is returned once), list, revoke, and authenticate a request's key.

A key is `koe_<prefix>_<secret>`, 32 random bytes of secret: only its SHA-256 is stored. A fast hash is enough
for a secret that random (nothing to brute-force, unlike a password)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.db.base import utcnow
from app.db.repositories import keys as repo
from app.db.session import write_transaction
from app.db.tables import ApiKey
from app.schemas.keys import SCOPES, KeyCreated, KeyPublic

TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is a hint, not an audit log: one write a minute per key


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant and what it may do; key_id None when no key was sent (auth not required)."""

    tenant_id: str
    scopes: frozenset[str]
    key_id: int | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def anonymous(tenant_id: str) -> Principal:
    return Principal(tenant_id, frozenset(SCOPES))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@write_transaction
def create(*, session: Session, tenant_id: str, name: str, scopes: Sequence[str]) -> tuple[ApiKey, str]:
    """A new key and its plaintext, which is not stored and cannot be shown again."""
    prefix = secrets.token_hex(6)
    token = f"koe_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(tenant_id=tenant_id, name=name, prefix=prefix, key_hash=_digest(token), scopes=list(scopes))
    repo.add(session, key)
    session.commit()
    return key, token


def list_(*, session: Session, tenant_id: str | None) -> list[ApiKey]:
    return repo.list_(session, tenant_id=tenant_id)


@write_transaction
def revoke(*, session: Session, key_id: int, tenant_id: str | None) -> ApiKey:
    """Revoke a key of this tenant (None: any tenant); revoking twice keeps the first time."""
    key = repo.get(session, key_id=key_id, tenant_id=tenant_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist", code="key_not_found")
    key.revoked_at = key.revoked_at or utcnow()
    session.commit()
    return key


def authenticate(*, session: Session, token: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None for anything else."""
    marker, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if marker != "koe" or not prefix or not secret:
        return None
    key = repo.by_prefix(session, prefix)
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, _digest(token)):
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY:
        try:
            repo.touch(session, key_id=key.id, now=now, stale_before=now - TOUCH_EVERY)
            session.commit()
        except OperationalError:
            # A hint, not an audit log: when SQLite is busy with another request's write, skip it.
            session.rollback()
    return Principal(key.tenant_id, frozenset(key.scopes), key.id)


def to_public(key: ApiKey) -> KeyPublic:
    return KeyPublic.model_validate(key)


def to_created(key: ApiKey, token: str) -> KeyCreated:
    return KeyCreated(**to_public(key).model_dump(), key=token)
