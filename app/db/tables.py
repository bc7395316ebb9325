"""ORM tables (SQLAlchemy 2). "Model" in this codebase means an ML model, so these are tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, BigId, JSONType, NullableJSON, UTCDateTime, utcnow

# The columns a feedback filter tests, carried in the (tenant, written_at) and (feedback_id) indexes.
FEEDBACK_FILTERED = ["id", "channel", "segment", "source", "nps", "csat", "ces"]
ANALYSIS_FILTERED = ["id", "is_current", "stage", "sentiment"]
ROLLUP_FILLFACTOR = 80


class Feedback(Base):
    """One piece of customer feedback as the caller sent it."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("tenant_id", "source", "external_id", name="uq_feedback_tenant_source_external"),
        # Covering on PostgreSQL: analytics read the newest rows of a period under any filter from the index
        # alone, without visiting the wide heap rows (at 1 M items: quote and term reads 3× faster, respondents 1.4×).
        Index("ix_feedback_tenant_written", "tenant_id", "written_at", postgresql_include=FEEDBACK_FILTERED),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(128))
    external_id: Mapped[str | None] = mapped_column(String(256))
    channel: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    ces: Mapped[int | None] = mapped_column(SmallInteger)
    touchpoint: Mapped[str | None] = mapped_column(String(64))
    stage_given: Mapped[str | None] = mapped_column(String(16))
    customer_id: Mapped[str | None] = mapped_column(String(128))
    segment: Mapped[str | None] = mapped_column(String(128))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    turns: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)  # a transcript's turns, when it is one

    analyses: Mapped[list[Analysis]] = relationship(
        back_populates="feedback", cascade="all, delete-orphan", passive_deletes=True, order_by="Analysis.id"
    )


class Analysis(Base):
    """One scoring of a feedback item by one set of model versions; a new version adds a row."""

    __tablename__ = "analysis"
    __table_args__ = (
        UniqueConstraint("feedback_id", "pipeline_version", name="uq_analysis_feedback_pipeline"),
        Index("ix_analysis_current", "tenant_id", "is_current", "stage", "sentiment"),
        Index("ix_analysis_feedback_id", "feedback_id", postgresql_include=ANALYSIS_FILTERED),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pipeline_version: Mapped[str] = mapped_column(String(512))
    model_versions: Mapped[dict[str, str]] = mapped_column(JSONType)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    sentiment: Mapped[str] = mapped_column(String(16))
    sentiment_scores: Mapped[dict[str, float]] = mapped_column(JSONType)
    stage: Mapped[str | None] = mapped_column(String(16))
    stage_predicted: Mapped[str | None] = mapped_column(String(16))
    stage_source: Mapped[str] = mapped_column(String(16))
    stage_scores: Mapped[dict[str, float]] = mapped_column(JSONType)
    sentences: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    explanations: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    warnings: Mapped[list[dict[str, str]]] = mapped_column(JSONType)
    conversation: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # per-turn results and summary
    terms: Mapped[list[str] | None] = mapped_column(JSONType)  # keyword-analytics terms; null if scored before 0005
    emotions: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)  # NULL: scored without an emotion model
    aspects: Mapped[list[dict[str, Any]] | None] = mapped_column(NullableJSON)  # NULL: scored without a tagger

    feedback: Mapped[Feedback] = relationship(back_populates="analyses")
    topics: Mapped[list[AnalysisTopic]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="AnalysisTopic.score.desc()"
    )


class AnalysisTopic(Base):
    """Document topics of an analysis, one row each, so that filters and aggregates stay in SQL."""

    __tablename__ = "analysis_topic"
    __table_args__ = (Index("ix_analysis_topic_tenant_topic", "tenant_id", "topic"),)

    analysis_id: Mapped[int] = mapped_column(ForeignKey("analysis.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)


class TaxonomyVersion(Base):
    """A tenant's uploaded topic taxonomy; the newest active one is used for new analyses."""

    __tablename__ = "taxonomy"
    __table_args__ = (Index("ix_taxonomy_tenant_active", "tenant_id", "is_active"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(SmallInteger)
    digest: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(Base):
    """Long work (an upload, a re-score) run by a worker in chunks; `checkpoint` makes it resumable. A large upload
    is split into `parts`: jobs of their own (`parent_id` set, a range of the file's rows in options["part"]) that
    any worker claims, while the parent only reports their sum."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status", "status", "updated_at"), Index("ix_job_tenant", "tenant_id", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # upload, rescore
    status: Mapped[str] = mapped_column(String(16), default="queued")
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    rows_total: Mapped[int | None] = mapped_column(BigId)
    rows_done: Mapped[int] = mapped_column(BigId, default=0)
    rows_failed: Mapped[int] = mapped_column(BigId, default=0)
    created: Mapped[int] = mapped_column(BigId, default=0)
    updated: Mapped[int] = mapped_column(BigId, default=0)
    unchanged: Mapped[int] = mapped_column(BigId, default=0)
    checkpoint: Mapped[int] = mapped_column(BigId, default=0)  # last source row committed
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), index=True)
    parts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Optimistic lock: a worker whose job was cancelled or taken over fails its next commit instead of
    # double-counting rows.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it once, never mutated)


class JobError(Base):
    """A row a job rejected: where it was in the file, which column, and why."""

    __tablename__ = "job_error"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), index=True)
    row_number: Mapped[int] = mapped_column(BigId)
    column: Mapped[str | None] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text)


class ApiKey(Base):
    """A tenant's API key: only the SHA-256 of the secret is stored; `prefix` finds the row and names it in lists."""

    __tablename__ = "api_key"
    __table_args__ = (Index("ix_api_key_tenant", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DailyRollup(Base):
    """Tallies per local day (and month) and dimension (app.db.repositories.rollup keeps it exact on every
    write). Rows with topic "" count items; rows with a topic count items with that topic."""

    __tablename__ = "daily_rollup"
    # Room in each page for the new version of an updated row (a HOT update): a day's rows stay on the pages
    # written that day, so a range of days reads few pages.
    __table_args__ = ({"postgresql_with": {"fillfactor": ROLLUP_FILLFACTOR}},)

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    grain: Mapped[str] = mapped_column(String(8), primary_key=True)  # day, or month (day = the 1st)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    segment: Mapped[str] = mapped_column(String(128), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    sentiment: Mapped[str] = mapped_column(String(16), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    nps_n: Mapped[int] = mapped_column(Integer, default=0)
    promoters: Mapped[int] = mapped_column(Integer, default=0)
    detractors: Mapped[int] = mapped_column(Integer, default=0)
    csat_n: Mapped[int] = mapped_column(Integer, default=0)
    csat_satisfied: Mapped[int] = mapped_column(Integer, default=0)
    ces_n: Mapped[int] = mapped_column(Integer, default=0)
    ces_sum: Mapped[int] = mapped_column(Integer, default=0)


class TenantSetting(Base):
    """Per-tenant overrides of deployment settings (a row only for tenants that override something)."""

    __tablename__ = "tenant_setting"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pii_redaction: Mapped[str | None] = mapped_column(String(8))  # off / mask / hash; null = KOE_PII_REDACTION
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FeedbackLabel(Base):
    """An analyst's correction of an item's labels: the gold data a tenant's retraining learns from. Only the
    labels given are set; each correction is kept (the newest per item is the current one)."""

    __tablename__ = "feedback_label"
    __table_args__ = (Index("ix_feedback_label_tenant_feedback", "tenant_id", "feedback_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sentiment: Mapped[str | None] = mapped_column(String(16))
    topics: Mapped[list[str] | None] = mapped_column(NullableJSON)
    stage: Mapped[str | None] = mapped_column(String(16))
    emotions: Mapped[list[str] | None] = mapped_column(NullableJSON)
    analysis_id: Mapped[int | None] = mapped_column(BigId)  # the analysis being corrected (its model versions)


class TopicHead(Base):
    """A tenant's topic head, trained on its corrections by `python -m pipelines.train --tenant T`: registered here so
    that every API process and worker switches to the active one at its next request, without a restart. It applies
    only to the taxonomy and the model version it was trained with (its weights read that model's vectors)."""

    __tablename__ = "topic_head"
    __table_args__ = (Index("ix_topic_head_tenant_active", "tenant_id", "is_active"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    taxonomy_digest: Mapped[str] = mapped_column(String(16))
    model_version: Mapped[str] = mapped_column(String(128))
    topics: Mapped[list[str]] = mapped_column(JSONType)
    weights: Mapped[bytes] = mapped_column(LargeBinary)  # safetensors: weight [topics, hidden], bias [topics]
    examples: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
