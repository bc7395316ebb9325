"""Building blocks shared by the analyst aggregates: cells with intervals, scores, periods and names."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app.db.repositories import analytics as repo
from app.db.repositories import rollup
from app.db.repositories.analytics import SENTIMENTS, TALLY_KEYS
from app.db.repositories.filters import FeedbackFilter
from app.schemas.analytics import NpsPublic, Period
from app.services import stats
from models.journey import STAGES
from models.taxonomy import default_taxonomy

NPS_INDICATIVE_BELOW = 400  # below this an NPS is indicative only (its 95 % interval spans ±5–10 points)
NO_STAGE_LABEL = "未分類"


def sentiment_cell(row: dict[str, Any]) -> dict[str, Any]:
    """Counts, shares with Wilson intervals and net sentiment of one tally row."""
    counts = {s: row.get(s, 0) for s in SENTIMENTS}
    n = sum(counts.values())
    shares = {s: round(counts[s] / n, 4) if n else 0.0 for s in SENTIMENTS}
    return {
        "n": n,
        **counts,
        "shares": shares,
        "share_intervals": {s: stats.wilson(counts[s], n) for s in SENTIMENTS} if n else {},
        "net_sentiment": round(shares["positive"] - shares["negative"], 4) if n else None,
        "net_sentiment_interval": stats.difference_interval(counts["positive"], counts["negative"], n),
        "low_n": n < stats.LOW_N,
    }


def stage_order(stage: str | None) -> int:
    return list(STAGES).index(stage) if stage in STAGES else len(STAGES)


def topic_names(session: Session, tenant_id: str) -> dict[str, str]:
    return default_taxonomy().labels() | repo.topic_names(session, tenant_id=tenant_id)


def scaled(interval: tuple[float, float] | None) -> tuple[float, float] | None:
    return (round(100 * interval[0], 2), round(100 * interval[1], 2)) if interval else None


def percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def nps_of(row: dict[str, Any]) -> NpsPublic:
    n, promoters, detractors = row["nps_n"], row["promoters"], row["detractors"]
    return NpsPublic(
        n=n,
        promoters=promoters,
        passives=n - promoters - detractors,
        detractors=detractors,
        score=percent(promoters - detractors, n),
        interval=scaled(stats.difference_interval(promoters, detractors, n)),
        indicative=n < NPS_INDICATIVE_BELOW,
    )


EMPTY_TALLY = dict.fromkeys(TALLY_KEYS, 0)


def delta(now: float | None, before: float | None) -> float | None:
    return round(now - before, 4) if now is not None and before is not None else None


def resolve_period(
    session: Session, *, tenant_id: str, f: FeedbackFilter, default_days: int
) -> tuple[datetime, datetime]:
    """The filter's written range. An open end is the local midnight after the newest item (or today), an open
    start `default_days` before it: whole local days, which the daily rollup answers."""
    end = f.written_to
    if end is None:
        zone = ZoneInfo(rollup.zone())
        last = repo.latest_day(session, tenant_id=tenant_id, f=f) or datetime.now(zone).date()
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    start = f.written_from or end - timedelta(days=default_days)
    return start, end


def as_period(start: datetime, end: datetime) -> Period:
    return Period(start=start, end=end)
