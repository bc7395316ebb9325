"""Which emotions customers express, overall and per journey stage (counts of items, shares of scored items)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from sqlalchemy.orm import Session

from app.db.repositories import analytics as repo
from app.db.repositories.filters import FeedbackFilter
from app.schemas.analytics import EmotionBreakdownPublic, EmotionCount, EmotionStage
from app.services.aggregates import NO_STAGE_LABEL, stage_order
from models.emotions import EMOTION_LABELS
from models.journey import STAGES


def breakdown(*, session: Session, tenant_id: str, f: FeedbackFilter) -> EmotionBreakdownPublic:
    rows = sorted(repo.emotion_counts(session, tenant_id=tenant_id, f=f), key=lambda r: stage_order(r["stage"]))
    overall = sum((Counter(r["emotions"]) for r in rows), Counter[str]())
    scored = sum(r["scored"] for r in rows)
    return EmotionBreakdownPublic(
        n=sum(r["n"] for r in rows),
        scored=scored,
        emotions=_counts(overall, scored),
        stages=[
            EmotionStage(
                stage=r["stage"],
                label=STAGES.get(r["stage"] or "", NO_STAGE_LABEL),
                n=r["n"],
                scored=r["scored"],
                emotions=_counts(r["emotions"], r["scored"]),
            )
            for r in rows
        ],
    )


def _counts(found: Mapping[str, int], scored: int) -> list[EmotionCount]:
    return [
        EmotionCount(
            emotion=emotion,
            label=label,
            n=found.get(emotion, 0),
            share=round(found.get(emotion, 0) / scored, 4) if scored else None,
        )
        for emotion, label in EMOTION_LABELS.items()
    ]
