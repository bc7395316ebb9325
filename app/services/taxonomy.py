"""Tenant taxonomies: upload a YAML/JSON taxonomy, and pick the pipeline that uses it (and the tenant's topic head)."""

from __future__ import annotations

import threading

import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.core.errors import FieldError, Invalid
from app.db.repositories import taxonomy as repo
from app.db.repositories import tenants, topic_heads
from app.db.session import write_transaction
from app.db.tables import TaxonomyVersion, TopicHead
from app.schemas.nul import refuse_nul
from models.analyzers.base import Analyzer
from models.pipeline import AnalysisPipeline
from models.registry import TENANT_TOPICS, topic_analyzer, with_topic_head
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


def known_topics(*, session: Session, base: AnalysisPipeline, tenant_id: str) -> tuple[Analyzer, Taxonomy]:
    """What the tenant's topics get without a head, and its active taxonomy: the taxonomy's keyword rules, or for
    the default taxonomy the base pipeline's own topic analyzer."""
    return _known(base, repo.active(session, tenant_id=tenant_id))


def _known(base: AnalysisPipeline, row: TaxonomyVersion | None) -> tuple[Analyzer, Taxonomy]:
    if row is None:
        return base.topics, default_taxonomy()
    taxonomy = Taxonomy.model_validate(row.body)
    return topic_analyzer(taxonomy), taxonomy


@write_transaction
def reset(*, session: Session, tenant_id: str) -> Taxonomy:
    repo.deactivate_all(session, tenant_id=tenant_id)
    session.commit()
    return default_taxonomy()


def pipeline_for(*, session: Session, base: AnalysisPipeline, tenant_id: str) -> AnalysisPipeline:
    """The base pipeline, with the tenant's own topics when it uploaded a taxonomy or registered a topic head."""
    profile = tenants.profile(session, tenant_id=tenant_id)
    if profile.taxonomy_id is None and profile.topic_head_id is None:
        return base
    # A stored taxonomy or head never changes (a new one is a new row): the ids name what the pipeline is built of,
    # and a newly registered head is picked up at the next request of every process.
    key = (base, profile.taxonomy_id, profile.taxonomy_digest, profile.topic_head_id)
    found = _pipelines.get(key)
    if found is None:
        found = _with_tenant_topics(session, base, profile)
        with _pipelines_lock:  # request threads
            if len(_pipelines) >= 64:
                _pipelines.pop(next(iter(_pipelines)))
            _pipelines[key] = found
    return found


def topic_head(*, session: Session, tenant_id: str) -> TopicHead | None:
    """The tenant's registered head (the one its profile names), whether or not it applies."""
    head_id = tenants.profile(session, tenant_id=tenant_id).topic_head_id
    return topic_heads.get(session, head_id) if head_id is not None else None


def serves_topic_head(*, session: Session, base: AnalysisPipeline, tenant_id: str) -> bool:
    return pipeline_for(session=session, base=base, tenant_id=tenant_id).topics.name == TENANT_TOPICS


def _with_tenant_topics(session: Session, base: AnalysisPipeline, profile: tenants.TenantProfile) -> AnalysisPipeline:
    row = repo.get(session, profile.taxonomy_id) if profile.taxonomy_id is not None else None
    topics, taxonomy = _known(base, row)  # rows are deactivated, never deleted: a profile's id names one
    head = topic_heads.get(session, profile.topic_head_id) if profile.topic_head_id is not None else None
    if head is not None and head.taxonomy_digest == taxonomy.digest:  # a head trained for an earlier taxonomy: unused
        topics = with_topic_head(
            topics, base, head_topics=head.topics, weights=head.weights, model_version=head.model_version
        )
    return base if topics is base.topics else base.with_topics(topics)


_pipelines: dict[tuple[AnalysisPipeline, int | None, str | None, int | None], AnalysisPipeline] = {}
_pipelines_lock = threading.Lock()
