"""Daily rollup: per local day × channel × segment × stage × sentiment (× topic), the tallies analytics need.

Kept exact on every write by adding the new contribution of a changed item and subtracting its old one
(`RollupDelta`), in the same transaction as the item; `rebuild` recomputes it from the stored rows (after a
change of KOE_TIMEZONE, whose calendar days it is keyed by). Analytics read it whenever the filter can be
answered from these dimensions and whole local days, and the stored rows otherwise."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from app.core.config import get_settings
from app.db.tables import Analysis, DailyRollup, Feedback

KEY = ("tenant_id", "day", "channel", "segment", "stage", "sentiment", "topic")
MEASURES = ("n", "nps_n", "promoters", "detractors", "csat_n", "csat_satisfied", "ces_n", "ces_sum")
NONE = ""  # NULL cannot take part in a primary key: "no segment / stage / topic" is stored as ""

Key = tuple[str, date, str, str, str, str, str]


def zone() -> str:
    """The calendar of the rollup's days: KOE_TIMEZONE of the process (one per deployment)."""
    return get_settings().timezone


def local_day(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date()


def is_local_midnight(moment: datetime, zone: str) -> bool:
    return moment.astimezone(ZoneInfo(zone)).time() == time(0)


def _measures(row: Feedback) -> list[int]:
    nps, csat, ces = row.nps, row.csat, row.ces
    return [
        1,
        nps is not None,
        nps is not None and nps >= 9,
        nps is not None and nps <= 6,
        csat is not None,
        csat is not None and csat >= 4,
        ces is not None,
        ces or 0,
    ]


class RollupDelta:
    """Changes to the rollup collected over one transaction, applied at once in key order (no deadlocks
    between concurrent writers: every transaction takes the row locks in the same order)."""

    def __init__(self, zone: str | None = None) -> None:
        self.zone = zone or globals()["zone"]()
        self.changes: dict[Key, list[int]] = defaultdict(lambda: [0] * len(MEASURES))

    def add(self, row: Feedback, analysis: Analysis | None, sign: int = 1) -> None:
        if analysis is None:
            return
        day = local_day(row.written_at, self.zone)
        base = (row.tenant_id, day, row.channel, row.segment or NONE, analysis.stage or NONE, analysis.sentiment)
        measures = [sign * int(v) for v in _measures(row)]
        for topic in [NONE, *(t.topic for t in analysis.topics)]:
            total = self.changes[(*base, topic)]
            for i, value in enumerate(measures):
                total[i] += value

    def remove(self, row: Feedback, analysis: Analysis | None) -> None:
        self.add(row, analysis, sign=-1)

    def apply(self, session: Session) -> None:
        rows = [
            dict(zip(KEY, key, strict=True)) | dict(zip(MEASURES, values, strict=True))
            for key, values in sorted(self.changes.items())
            if any(values)
        ]
        self.changes.clear()
        if not rows:
            return
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        for start in range(0, len(rows), 1_000):
            stmt = insert(DailyRollup).values(rows[start : start + 1_000])
            stmt = stmt.on_conflict_do_update(
                index_elements=list(KEY),
                set_={m: getattr(DailyRollup, m) + getattr(stmt.excluded, m) for m in MEASURES},
            )
            session.execute(stmt)


def rebuild(session: Session, *, zone: str, tenant_id: str | None = None, chunk: int = 5_000) -> int:
    """Recompute the rollup from the stored rows (all tenants or one); returns the items counted."""
    condition = [DailyRollup.tenant_id == tenant_id] if tenant_id else []
    session.execute(delete(DailyRollup).where(*condition))
    last_id, counted = 0, 0
    while True:
        stmt = select(Feedback).where(Feedback.id > last_id).order_by(Feedback.id).limit(chunk)
        if tenant_id:
            stmt = stmt.where(Feedback.tenant_id == tenant_id)
        rows = session.scalars(stmt.options(selectinload(Feedback.analyses).selectinload(Analysis.topics))).all()
        if not rows:
            return counted
        delta = RollupDelta(zone)
        for row in rows:
            delta.add(row, next((a for a in row.analyses if a.is_current), None))
        delta.apply(session)
        session.flush()
        session.expunge_all()
        last_id, counted = rows[-1].id, counted + len(rows)
