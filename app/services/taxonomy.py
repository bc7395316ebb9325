"""Tenant taxonomies: upload a YAML/JSON taxonomy, and pick the pipeline that uses it."""

from __future__ import annotations

import threading

import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.core.errors import FieldError, Invalid
from app.db.repositories import taxonomy as repo
from app.db.repositories import tenants
from app.db.session import write_transaction
from app.db.tables import TaxonomyVersion
from app.schemas.nul import refuse_nul
from models.pipeline import AnalysisPipeline
from models.registry import topic_analyzer
from models.taxonomy import Taxonomy, default_taxonomy, parse_taxonomy


def parse_or_raise(raw: bytes) -> Taxonomy:
    try:
        return parse_taxonomy(raw)
    except yaml.YAMLError as exc:
        raise Invalid(f"the taxonomy is not valid YAML or JSON: {exc}", code="invalid_taxonomy") from exc
    except ValidationError as exc:
        errors = [FieldError("/" + "/".join(map(str, e["loc"])), e["msg"], e["type"]) for e in exc.errors()]
        raise Invalid("the taxonomy does not match the expected shape", errors, code="invalid_taxonomy") from exc
    except ValueError as exc:
        raise Invalid(str(exc), code="invalid_taxonomy") from exc


@write_transaction
def activate(*, session: Session, tenant_id: str, raw: bytes) -> Taxonomy:
    """Store a new taxonomy as the tenant's active one; older ones stay for the record."""
    taxonomy = parse_or_raise(raw)
    refuse_nul(taxonomy.model_dump())
    repo.deactivate_all(session, tenant_id=tenant_id)
    repo.add(
        session,
        TaxonomyVersion(
            tenant_id=tenant_id,
            name=taxonomy.name,
            version=taxonomy.version,
            digest=taxonomy.digest,
            body=taxonomy.model_dump(),
            is_active=True,
        ),
    )
    session.commit()
    return taxonomy


def active(*, session: Session, tenant_id: str) -> Taxonomy:
    row = repo.active(session, tenant_id=tenant_id)
    return Taxonomy.model_validate(row.body) if row else default_taxonomy()


@write_transaction
def reset(*, session: Session, tenant_id: str) -> Taxonomy:
    repo.deactivate_all(session, tenant_id=tenant_id)
    session.commit()
    return default_taxonomy()


def pipeline_for(*, session: Session, base: AnalysisPipeline, tenant_id: str) -> AnalysisPipeline:
    """The base pipeline, with the tenant's own topic analyzer when it uploaded a taxonomy."""
    profile = tenants.profile(session, tenant_id=tenant_id)
    if profile.taxonomy_id is None:
        return base
    # A stored taxonomy never changes (a new upload is a new row): its id and digest name its body.
    key = (base, profile.taxonomy_id, profile.taxonomy_digest)
    found = _pipelines.get(key)
    if found is None:
        row = repo.get(session, profile.taxonomy_id)
        assert row is not None  # rows are deactivated, never deleted
        found = base.with_topics(topic_analyzer(Taxonomy.model_validate(row.body)))
        with _pipelines_lock:  # request threads
            if len(_pipelines) >= 64:
                _pipelines.pop(next(iter(_pipelines)))
            _pipelines[key] = found
    return found


_pipelines: dict[tuple[AnalysisPipeline, int, str | None], AnalysisPipeline] = {}
_pipelines_lock = threading.Lock()
