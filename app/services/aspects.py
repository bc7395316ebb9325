"""What customers judge: aspect terms ranked by mentions or by negative mentions (pain points at the level of the
words customers use, below the taxonomy's topics)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db.repositories import analytics as repo
from app.db.repositories.filters import FeedbackFilter
from app.schemas.analytics import AspectCount, AspectRankingPublic


def ranking(*, session: Session, tenant_id: str, f: FeedbackFilter, rank_by: str, limit: int) -> AspectRankingPublic:
    n, scored, rows = repo.aspect_counts(session, tenant_id=tenant_id, f=f, rank_by=rank_by, limit=limit)
    return AspectRankingPublic(
        n=n,
        scored=scored,
        rank_by=rank_by,
        aspects=[AspectCount(**r, negative_share=round(r["negative"] / r["mentions"], 4)) for r in rows],
    )
