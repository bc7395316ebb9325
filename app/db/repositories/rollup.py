"""Daily rollup: per local day × channel × segment × stage × sentiment (× topic), the tallies analytics need.

Kept exact on every write by adding the new contribution of a changed item and subtracting its old one
(`RollupDelta`), in the same transaction as the item; `rebuild` recomputes it from the stored rows (after a
change of KOE_TIMEZONE, whose calendar days it is keyed by). Analytics read it whenever the filter can be
answered from these dimensions and whole local days, and the stored rows otherwise."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, Select, Table, and_, case, cast, delete, func, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.db.tables import Analysis, AnalysisTopic, DailyRollup, Feedback

KEY = ("tenant_id", "grain", "day", "channel", "segment", "stage", "sentiment", "topic")
DAY, MONTH = "day", "month"  # a month row sums the day rows of its month: long ranges read ~30× fewer rows
MEASURES = ("n", "nps_n", "promoters", "detractors", "csat_n", "csat_satisfied", "ces_n", "ces_sum")
NONE = ""  # NULL cannot take part in a primary key: "no segment / stage / topic" is stored as ""
PROMOTER_MIN, DETRACTOR_MAX, SATISFIED_MIN = 9, 6, 4  # NPS 9–10 / 0–6; CSAT 4–5 counts as satisfied

Key = tuple[str, str, date, str, str, str, str, str]


def zone() -> str:
    """The calendar of the rollup's days: KOE_TIMEZONE of the process (one per deployment)."""
    return get_settings().timezone


def local_day(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date()


def is_local_midnight(moment: datetime, zone: str) -> bool:
    return moment.astimezone(ZoneInfo(zone)).time() == time(0)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def score_measures() -> list[ColumnElement[Any]]:
    """The MEASURES as SQL aggregates over feedback rows (the rebuild and the raw-row tallies share them);
    `_measures` below is the same per row, for the deltas of a write."""
    columns: list[ColumnElement[Any]] = [
        func.count(),
        func.count(Feedback.nps),
        count_if(Feedback.nps >= PROMOTER_MIN),
        count_if(Feedback.nps <= DETRACTOR_MAX),
        func.count(Feedback.csat),
        count_if(Feedback.csat >= SATISFIED_MIN),
        func.count(Feedback.ces),
        func.coalesce(func.sum(Feedback.ces), 0),
    ]
    return [column.label(name) for column, name in zip(columns, MEASURES, strict=True)]


def _measures(row: Feedback) -> list[int]:
    nps, csat, ces = row.nps, row.csat, row.ces
    return [
        1,
        nps is not None,
        nps is not None and nps >= PROMOTER_MIN,
        nps is not None and nps <= DETRACTOR_MAX,
        csat is not None,
        csat is not None and csat >= SATISFIED_MIN,
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
        dims = (row.channel, row.segment or NONE, analysis.stage or NONE, analysis.sentiment)
        measures = [sign * int(v) for v in _measures(row)]
        for grain, start in ((DAY, day), (MONTH, day.replace(day=1))):
            for topic in [NONE, *(t.topic for t in analysis.topics)]:
                total = self.changes[(row.tenant_id, grain, start, *dims, topic)]
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
        # One cached statement, many parameter sets: building a multi-row VALUES per write cost half the CPU
        # of a single-item POST.
        session.connection().execute(_increment(session.get_bind().dialect.name), rows)


@lru_cache(maxsize=2)
def _increment(dialect: str) -> Any:
    table: Table = DailyRollup.__table__  # type: ignore[assignment]
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return stmt.on_conflict_do_update(
        index_elements=list(KEY), set_={m: table.c[m] + stmt.excluded[m] for m in MEASURES}
    )


def rebuild(session: Session, *, zone: str, tenant_id: str | None = None) -> int:
    """Recompute the rollup from the stored rows (all tenants or one) in two INSERT … SELECT statements;
    returns the items counted."""
    scope = [DailyRollup.tenant_id == tenant_id] if tenant_id else []
    session.execute(delete(DailyRollup).where(*scope))
    # Inserted in key order: the rows of a day share pages, so reading a range of days touches few of them
    # (1 M items, a 28-day tally: 18,291 pages and 113 ms in hash order, 1,982 pages and 23 ms in key order).
    for topic in (None, AnalysisTopic.topic):
        contributions = _contributions(session, zone, topic, tenant_id)
        session.execute(insert(DailyRollup).from_select([*KEY, *MEASURES], contributions))
    session.execute(insert(DailyRollup).from_select([*KEY, *MEASURES], _months(session, tenant_id)))
    stmt = select(func.coalesce(func.sum(DailyRollup.n), 0)).where(
        DailyRollup.grain == DAY, DailyRollup.topic == NONE, *scope
    )
    return int(session.execute(stmt).scalar() or 0)


def _contributions(session: Session, zone: str, topic: Any, tenant_id: str | None) -> Select:
    if session.get_bind().dialect.name == "postgresql":
        day: ColumnElement[Any] = cast(func.timezone(zone, Feedback.written_at), Date)
    else:
        day = func.koe_period(Feedback.written_at, "day", zone)  # registered by app.db.session
    keys = [
        Feedback.tenant_id,
        literal(DAY),
        day,
        Feedback.channel,
        func.coalesce(Feedback.segment, NONE),
        func.coalesce(Analysis.stage, NONE),
        Analysis.sentiment,
        topic if topic is not None else literal(NONE),
    ]
    stmt = select(*keys, *score_measures()).select_from(Feedback)
    stmt = stmt.join(Analysis, and_(Analysis.feedback_id == Feedback.id, Analysis.is_current.is_(True)))
    if topic is not None:
        stmt = stmt.join(AnalysisTopic, AnalysisTopic.analysis_id == Analysis.id)
    if tenant_id:
        stmt = stmt.where(Feedback.tenant_id == tenant_id)
    return stmt.group_by(*keys).order_by(*keys)


def _months(session: Session, tenant_id: str | None) -> Select:
    r = DailyRollup
    if session.get_bind().dialect.name == "postgresql":
        month: ColumnElement[Any] = cast(func.date_trunc("month", r.day), Date)
    else:
        month = func.koe_day_period(r.day, "month")
    keys = [r.tenant_id, literal(MONTH), month, r.channel, r.segment, r.stage, r.sentiment, r.topic]
    stmt = select(*keys, *(func.sum(getattr(r, m)) for m in MEASURES)).where(r.grain == DAY)
    if tenant_id:
        stmt = stmt.where(r.tenant_id == tenant_id)
    return stmt.group_by(*keys).order_by(*keys)
