"""Feedback use cases: batch upsert with analysis, get, list, delete."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from app.core import metrics
from app.core.config import Settings
from app.core.errors import FieldError, Invalid, NotFound
from app.core.time import to_utc
from app.db.base import MAX_ID, utcnow
from app.db.repositories import feedback as repo
from app.db.repositories.filters import FeedbackFilter
from app.db.repositories.rollup import RollupDelta
from app.db.session import retry_write_race, write_transaction
from app.db.tables import Analysis, Feedback
from app.schemas.analysis import AnalysisPublic
from app.schemas.feedback import (
    FeedbackBatchResult,
    FeedbackCreate,
    FeedbackPublic,
    FeedbacksPublic,
    ItemOutcome,
)
from app.services import privacy, taxonomy
from app.services.analysis import analysis_columns, pipeline_version, text_problem
from models.conversation import Turn, parse_log, parse_when, render, when
from models.pipeline import AnalysisInput, AnalysisPipeline

# Changing any of these fields changes what the analyzers see, so the item is analyzed again.
ANALYZED_FIELDS = ("text", "stage_given", "touchpoint")


@dataclass
class _Planned:
    index: int
    item: FeedbackCreate
    row: Feedback | None  # the stored item with the same (source, external_id), if any
    content_hash: str
    analyzed_before: tuple[object, ...] | None  # the stored row's analyzed fields before this request


def content_hash(item: FeedbackCreate) -> str:
    """Hash of everything the caller sent: equal hashes mean a re-post changed nothing."""
    payload = item.model_dump(mode="json", exclude_none=False)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def store(
    *,
    session: Session,
    base: AnalysisPipeline,
    tenant_id: str,
    items: Sequence[FeedbackCreate],
    settings: Settings,
) -> list[ItemOutcome]:
    """One transaction that upserts `items` (already through `check_batch`) with the tenant's pipeline (`base` with
    its taxonomy) and commits: every item is created, updated or unchanged, or nothing is. Outcomes in item order."""

    def transaction() -> list[ItemOutcome]:
        pipeline = taxonomy.pipeline_for(session=session, base=base, tenant_id=tenant_id)
        outcomes = upsert(session=session, pipeline=pipeline, tenant_id=tenant_id, items=items, settings=settings)
        session.commit()
        return outcomes

    return retry_write_race(session, transaction)


def batch_result(outcomes: list[ItemOutcome]) -> FeedbackBatchResult:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("created", "updated", "unchanged")}
    return FeedbackBatchResult(items=outcomes, **counts)


def upsert(
    *,
    session: Session,
    pipeline: AnalysisPipeline,
    tenant_id: str,
    items: Sequence[FeedbackCreate],
    settings: Settings,
) -> list[ItemOutcome]:
    """Create, update or leave each valid item, analyzing what changed; the caller commits. Items must have
    distinct (source, external_id) keys (see `distinct_key_runs`)."""
    plan = _plan(session, tenant_id, items)
    changed = [p for p in plan if p.row is None or p.row.content_hash != p.content_hash]
    rollup = RollupDelta()
    for p in changed:
        if p.row is not None:
            rollup.remove(p.row, repo.current_analysis(p.row))
    redact = privacy.redactor(session, tenant_id=tenant_id, settings=settings)
    rows = {p.index: _apply(p, tenant_id, settings, redact) for p in changed}
    _analyze(pipeline, [rows[p.index] for p in changed if _needs_analysis(p, rows[p.index])])
    for row in rows.values():
        rollup.add(row, repo.current_analysis(row))
    session.flush()  # updates of stored items (in the session since the lookup)
    repo.insert_new(session, [rows[p.index] for p in changed if p.row is None])  # gives them their ids
    # Last: every writer of a day shares its rollup rows, locked from here until the commit.
    rollup.apply(session)
    return [_outcome(p, rows.get(p.index)) for p in plan]


def distinct_key_runs(items: Sequence[FeedbackCreate]) -> list[list[int]]:
    """Split item indexes into consecutive runs without a repeated (source, external_id): a file may carry the
    same item twice, and the later copy must update the earlier one, exactly as a later request would."""
    runs: list[list[int]] = [[]]
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(items):
        key = (item.source, item.external_id) if item.external_id else None
        if key is not None and key in seen:
            runs.append([])
            seen.clear()
        if key is not None:
            seen.add(key)
        runs[-1].append(i)
    return [run for run in runs if run]


def check_batch(items: Sequence[FeedbackCreate], settings: Settings) -> None:
    """Refuse the whole request (422) when any item cannot be stored: too many, bad text, a key sent twice."""
    if len(items) > settings.max_batch_items:
        raise Invalid(
            f"{len(items):,} items sent; at most {settings.max_batch_items:,} per request (KOE_MAX_BATCH_ITEMS)",
            [FieldError("/items", "too many items", "too_many_items")],
            code="too_many_items",
        )
    errors = [
        FieldError(f"/items/{i}/text", problem[1], problem[0])
        for i, item in enumerate(items)
        if (problem := text_problem(item.text, settings=settings))
    ]
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(items):
        if item.external_id is None:
            continue
        key = (item.source, item.external_id)
        if key in seen:
            errors.append(
                FieldError(
                    f"/items/{i}/external_id",
                    f"same source and external_id as item {seen[key]}",
                    "duplicate_in_batch",
                )
            )
        seen.setdefault(key, i)
    if errors:
        raise Invalid(f"{len(errors)} item(s) cannot be stored; nothing was stored", errors)


def _plan(session: Session, tenant_id: str, items: Sequence[FeedbackCreate]) -> list[_Planned]:
    keys = [(i.source, i.external_id) for i in items if i.external_id is not None]
    existing = repo.by_external_ids(session, tenant_id=tenant_id, keys=keys)
    plan = []
    for i, item in enumerate(items):
        row = existing.get((item.source, item.external_id)) if item.external_id else None
        plan.append(_Planned(i, item, row, content_hash(item), _analyzed_values(row)))
    return plan


def _apply(p: _Planned, tenant_id: str, settings: Settings, redact: Callable[[str], str]) -> Feedback:
    row = p.row or Feedback(tenant_id=tenant_id, received_at=utcnow())
    item = p.item
    row.source, row.external_id, row.channel = item.source, item.external_id, item.channel
    row.text, row.turns = redacted(*transcript(item, settings), redact)
    row.written_at = to_utc(item.written_at, settings.timezone) if item.written_at else (row.written_at or utcnow())
    row.nps, row.csat, row.ces = item.nps, item.csat, item.ces
    row.touchpoint, row.stage_given = item.touchpoint, item.stage
    row.customer_id, row.segment, row.meta = item.customer_id, item.segment, item.metadata
    row.content_hash = p.content_hash
    return row


def _analyzed_values(row: Feedback | None) -> tuple[object, ...] | None:
    return tuple(getattr(row, f) for f in ANALYZED_FIELDS) if row is not None else None


def _needs_analysis(p: _Planned, row: Feedback) -> bool:
    """New items, and items whose text, stage or touchpoint changed; a metadata-only edit keeps its analysis."""
    return p.analyzed_before is None or repo.current_analysis(row) is None or p.analyzed_before != _analyzed_values(row)


def rescore(*, session: Session, pipeline: AnalysisPipeline, tenant_id: str, ids: Sequence[int]) -> tuple[int, int]:
    """Analyze items again with the pipeline now serving; (re-analyzed, already current). The caller commits."""
    version = pipeline_version(pipeline.model_versions)
    rows = repo.with_analyses(session, tenant_id=tenant_id, ids=ids)
    stale = [r for r in rows if (a := repo.current_analysis(r)) is None or a.pipeline_version != version]
    rollup = RollupDelta()
    for row in stale:
        rollup.remove(row, repo.current_analysis(row))
    _analyze(pipeline, stale)
    for row in stale:
        rollup.add(row, repo.current_analysis(row))
    rollup.apply(session)
    session.flush()
    return len(stale), len(rows) - len(stale)


def analysis_input(item: FeedbackCreate, settings: Settings, redact: Callable[[str], str]) -> AnalysisInput:
    """What the analyzers see of a new item: exactly what `_apply` stores and `_analyze` then reads back."""
    text, turns = redacted(*transcript(item, settings), redact)
    return AnalysisInput(text, item.stage, item.touchpoint, _as_turns(turns) if turns else None)


def redacted(
    text: str, turns: list[dict[str, Any]] | None, redact: Callable[[str], str]
) -> tuple[str, list[dict[str, Any]] | None]:
    """PII out of the text, or out of every turn, the text then being the rendering of the redacted turns."""
    if not turns:
        return redact(text), None
    turns = [{**t, "text": redact(t["text"])} for t in turns]
    return render(_as_turns(turns))[0], turns


def transcript(item: FeedbackCreate, settings: Settings) -> tuple[str, list[dict[str, Any]] | None]:
    """Text and turns to store: given turns, or turns read from a chat/call log sent as text (then stored in the
    canonical `お客様: …` rendering, its clock times kept in the turns), or plain text without turns."""
    if item.turns:
        return item.text, [t.model_dump(mode="json") for t in item.turns]
    parsed = parse_log(item.text, settings.speaker_labels) if item.channel in ("chat", "call") else None
    if not parsed:
        return item.text, None
    return render(parsed)[0], [{"speaker": t.speaker, "text": t.text, "at": when(t.at)} for t in parsed]


def turns_of(row: Feedback) -> tuple[Turn, ...] | None:
    return _as_turns(row.turns) if row.turns else None


def _as_turns(stored: list[dict[str, Any]]) -> tuple[Turn, ...]:
    """Turns as stored (JSON) back into models.conversation.Turn."""
    return tuple(Turn(t["speaker"], t["text"], parse_when(t.get("at"))) for t in stored)


def _analyze(pipeline: AnalysisPipeline, rows: list[Feedback]) -> None:
    results = pipeline.analyze([AnalysisInput(r.text, r.stage_given, r.touchpoint, turns_of(r)) for r in rows])
    metrics.analyzed(len(results))
    version = pipeline_version(pipeline.model_versions)
    for row, result in zip(rows, results, strict=True):
        repo.save_analysis(row, pipeline_version=version, values=analysis_columns(result), topics=result.topics)


def _outcome(p: _Planned, row: Feedback | None) -> ItemOutcome:
    status: Literal["created", "updated", "unchanged"] = (
        "unchanged" if row is None else ("created" if p.row is None else "updated")
    )
    stored = row or p.row
    assert stored is not None
    return ItemOutcome(index=p.index, id=stored.id, external_id=stored.external_id, status=status)


def get_or_raise(*, session: Session, tenant_id: str, feedback_id: int) -> Feedback:
    row = repo.get(session, tenant_id=tenant_id, feedback_id=feedback_id)
    if row is None:
        raise NotFound(f"feedback {feedback_id} does not exist", code="feedback_not_found")
    return row


def to_public(row: Feedback) -> FeedbackPublic:
    analysis = repo.current_analysis(row)
    return FeedbackPublic(
        id=row.id,
        source=row.source,
        external_id=row.external_id,
        channel=row.channel,
        text=row.text,
        written_at=row.written_at,
        received_at=row.received_at,
        updated_at=row.updated_at,
        nps=row.nps,
        csat=row.csat,
        ces=row.ces,
        touchpoint=row.touchpoint,
        stage=row.stage_given,
        turns=row.turns,
        customer_id=row.customer_id,
        segment=row.segment,
        metadata=row.meta,
        analysis=AnalysisPublic.model_validate(_analysis_public(analysis)) if analysis else None,
    )


def _analysis_public(a: Analysis) -> dict[str, Any]:
    return {
        "sentiment": {"label": a.sentiment, "scores": a.sentiment_scores},
        "sentences": a.sentences,
        "topics": [{"id": t.topic, "name": t.name, "score": t.score} for t in a.topics],
        "stage": {
            "label": a.stage,
            "predicted": a.stage_predicted,
            "scores": a.stage_scores,
            "source": a.stage_source,
        },
        "explanations": a.explanations,
        "model_versions": a.model_versions,
        "warnings": a.warnings,
        "conversation": a.conversation,
        "emotions": a.emotions,
        "aspects": a.aspects,
    }


def list_(*, session: Session, tenant_id: str, f: FeedbackFilter, limit: int, cursor: str | None) -> FeedbacksPublic:
    before = decode_cursor(cursor) if cursor else None
    rows = repo.list_page(session, tenant_id=tenant_id, f=f, limit=limit + 1, before_id=before)
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return FeedbacksPublic(data=[to_public(r) for r in page], count=len(page), next_cursor=next_cursor)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = raw.split(":", 1)
        if prefix != "id" or not 0 < int(value) <= MAX_ID:
            raise ValueError(raw)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(
            "cursor is not one this API returned",
            [FieldError("/query/cursor", "malformed cursor")],
            code="invalid_cursor",
        ) from exc


@write_transaction
def delete(*, session: Session, tenant_id: str, feedback_id: int) -> None:
    row = get_or_raise(session=session, tenant_id=tenant_id, feedback_id=feedback_id)
    rollup = RollupDelta()
    rollup.remove(row, repo.current_analysis(row))
    rollup.apply(session)
    repo.delete(session, row)
    session.commit()
