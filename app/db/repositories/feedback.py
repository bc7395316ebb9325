"""Feedback and analysis persistence: the only place that builds their queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, selectinload

from app.db.repositories.filters import FeedbackFilter, apply_filter, current_analysis_join
from app.db.tables import Analysis, AnalysisTopic, Feedback


def get(session: Session, *, tenant_id: str, feedback_id: int) -> Feedback | None:
    stmt = (
        select(Feedback)
        .where(Feedback.id == feedback_id, Feedback.tenant_id == tenant_id)
        .options(selectinload(Feedback.analyses).selectinload(Analysis.topics))
    )
    return session.scalars(stmt).first()


def by_external_ids(
    session: Session, *, tenant_id: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Feedback]:
    """Existing items keyed by (source, external_id)."""
    keys = list(keys)
    if not keys:
        return {}
    found: dict[tuple[str, str], Feedback] = {}
    for chunk_start in range(0, len(keys), 500):
        chunk = keys[chunk_start : chunk_start + 500]
        stmt = (
            select(Feedback)
            .where(Feedback.tenant_id == tenant_id, tuple_(Feedback.source, Feedback.external_id).in_(chunk))
            .options(selectinload(Feedback.analyses))
        )
        found |= {(f.source, f.external_id or ""): f for f in session.scalars(stmt)}
    return found


def list_page(
    session: Session, *, tenant_id: str, f: FeedbackFilter, limit: int, before_id: int | None
) -> list[Feedback]:
    """Newest first; keyset pagination on id so deep pages cost the same as the first."""
    stmt = current_analysis_join(select(Feedback))
    stmt = apply_filter(stmt, tenant_id, f)
    if before_id is not None:
        stmt = stmt.where(Feedback.id < before_id)
    stmt = (
        stmt.order_by(Feedback.id.desc())
        .limit(limit)
        .options(selectinload(Feedback.analyses).selectinload(Analysis.topics))
    )
    return list(session.scalars(stmt))


def count(session: Session, *, tenant_id: str, f: FeedbackFilter) -> int:
    stmt = apply_filter(current_analysis_join(select(func.count()).select_from(Feedback)), tenant_id, f)
    return int(session.scalar(stmt) or 0)


def ids_after(session: Session, *, tenant_id: str, f: FeedbackFilter, after: int, limit: int) -> list[int]:
    stmt = apply_filter(current_analysis_join(select(Feedback.id)), tenant_id, f)
    return list(session.scalars(stmt.where(Feedback.id > after).order_by(Feedback.id).limit(limit)))


def with_analyses(session: Session, *, tenant_id: str, ids: Sequence[int]) -> list[Feedback]:
    stmt = (
        select(Feedback)
        .where(Feedback.tenant_id == tenant_id, Feedback.id.in_(ids))
        .order_by(Feedback.id)
        .options(selectinload(Feedback.analyses).selectinload(Analysis.topics))
    )
    return list(session.scalars(stmt))


def add(session: Session, feedback: Feedback) -> Feedback:
    session.add(feedback)
    return feedback


def assign_ids(session: Session, rows: Sequence[Feedback]) -> None:
    """Give the new items of a batch, and their new analyses, ids from their PostgreSQL sequences (one query
    each), so that the flush inserts them with executemany of one short statement that psycopg parses once and
    the server prepares; without ids it must send a multi-row VALUES … RETURNING that psycopg parses anew for
    every batch (measured: 14 % of an upload's CPU). A single row gains nothing; SQLite has no sequences."""
    if len(rows) < 2 or session.get_bind().dialect.name != "postgresql":
        return
    new_items = [r for r in rows if r.id is None]
    new_analyses = [a for r in rows for a in r.analyses if a.id is None]
    for ident, row in zip(_next_ids(session, "feedback", len(new_items)), new_items, strict=True):
        row.id = ident
    for ident, analysis in zip(_next_ids(session, "analysis", len(new_analyses)), new_analyses, strict=True):
        analysis.id = ident


def _next_ids(session: Session, table: str, n: int) -> list[int]:
    numbers = select(func.nextval(f"{table}_id_seq")).select_from(func.generate_series(1, n))
    with session.no_autoflush:  # the rows must not be inserted before they have their ids
        return list(session.scalars(numbers)) if n else []


def delete(session: Session, feedback: Feedback) -> None:
    session.delete(feedback)


def save_analysis(
    feedback: Feedback, *, pipeline_version: str, values: dict[str, Any], topics: Sequence[dict[str, Any]]
) -> Analysis:
    """Make this the current analysis of the item; an older model version's row is kept, not overwritten."""
    for old in feedback.analyses:
        old.is_current = False
    analysis = next((a for a in feedback.analyses if a.pipeline_version == pipeline_version), None)
    if analysis is None:
        analysis = Analysis(tenant_id=feedback.tenant_id, pipeline_version=pipeline_version)
        feedback.analyses.append(analysis)
    for key, value in values.items():
        setattr(analysis, key, value)
    analysis.is_current = True
    analysis.topics = [
        AnalysisTopic(tenant_id=feedback.tenant_id, topic=t["id"], name=t["name"], score=t["score"]) for t in topics
    ]
    return analysis


def current_analysis(feedback: Feedback) -> Analysis | None:
    return next((a for a in feedback.analyses if a.is_current), None)
