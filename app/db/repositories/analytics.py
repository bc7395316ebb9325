"""Aggregate queries for analysts: grouped tallies computed in the database, never row by row in Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, Text, and_, case, cast, func, or_, select, true, union_all
from sqlalchemy.orm import Session

from app.core.time import next_period
from app.db.repositories import rollup
from app.db.repositories.filters import FeedbackFilter, apply_complement, apply_filter, current_analysis_join
from app.db.tables import Analysis, AnalysisTopic, DailyRollup, Feedback, TaxonomyVersion

SENTIMENTS = ("positive", "neutral", "negative", "mixed")
TALLY_KEYS = (*rollup.MEASURES, *SENTIMENTS)  # every tally row has these counts, whichever way it was read
DIMENSIONS: dict[str, Any] = {
    "stage": Analysis.stage,
    "channel": Feedback.channel,
    "segment": Feedback.segment,
    "source": Feedback.source,
    "topic": AnalysisTopic.topic,
}


@dataclass(frozen=True)
class Calendar:
    """Calendar buckets (day / week from Monday / month) in a time zone."""

    interval: str
    timezone: str

    def bucket(self, session: Session) -> ColumnElement[Any]:
        if session.get_bind().dialect.name == "postgresql":
            local = func.timezone(self.timezone, Feedback.written_at)
            return func.to_char(func.date_trunc(self.interval, local), "YYYY-MM-DD")
        # SQLite has no time zones: app.db.session registers this function on every connection.
        return func.koe_period(Feedback.written_at, self.interval, self.timezone)


def _tally_columns() -> list[ColumnElement[Any]]:
    by_sentiment = (rollup.count_if(Analysis.sentiment == s).label(s) for s in SENTIMENTS)
    return [*rollup.score_measures(), *by_sentiment]


def tallies(
    session: Session,
    *,
    tenant_id: str,
    f: FeedbackFilter,
    by: Sequence[str] = (),
    calendar: Calendar | None = None,
    complement: bool = False,
    use_rollup: bool = True,
) -> list[dict[str, Any]]:
    """Sentiment counts and NPS / CSAT / CES tallies per group of `by` (stage, channel, segment, source,
    topic, period). An item counts once in each of its topics. `complement` tallies the rest instead of
    the segment the filter describes (same tenant and period)."""
    found = (
        None
        if complement or not use_rollup
        else _from_rollup(session, tenant_id=tenant_id, f=f, by=by, calendar=calendar)
    )
    if found is not None:
        return found
    keys = [
        (calendar.bucket(session) if name == "period" and calendar else DIMENSIONS[name]).label(name) for name in by
    ]
    stmt: Select = current_analysis_join(select(*keys, *_tally_columns()).select_from(Feedback))
    if "topic" in by:
        stmt = stmt.join(AnalysisTopic, AnalysisTopic.analysis_id == Analysis.id)
    stmt = apply_complement(stmt, tenant_id, f) if complement else apply_filter(stmt, tenant_id, f)
    if keys:
        stmt = stmt.group_by(*keys)
    return [_ints(row._mapping) for row in session.execute(stmt)]


def rollup_answers(f: FeedbackFilter, by: Sequence[str], calendar: Calendar | None) -> bool:
    """Whether the daily rollup holds the answer: its dimensions only, whole local days of its calendar."""
    zone = rollup.zone()
    return (
        f.source is None
        and not f.metadata
        and f.nps == f.csat == f.ces == (None, None)
        and not (f.topic is not None and "topic" in by)
        and "source" not in by
        and (calendar is None or calendar.timezone == zone)
        and all(t is None or rollup.is_local_midnight(t, zone) for t in (f.written_from, f.written_to))
    )


def _from_rollup(
    session: Session, *, tenant_id: str, f: FeedbackFilter, by: Sequence[str], calendar: Calendar | None
) -> list[dict[str, Any]] | None:
    if not rollup_answers(f, by, calendar):
        return None
    r = DailyRollup
    dims: dict[str, Any] = {"stage": r.stage, "channel": r.channel, "segment": r.segment, "topic": r.topic}
    keys = [
        (_day_bucket(session, calendar) if name == "period" and calendar else dims[name]).label(name) for name in by
    ]
    # A month row fits no week or day bucket.
    months = "period" not in by or (calendar is not None and calendar.interval == "month")
    conditions = _rollup_conditions(tenant_id, f, by, months=months)
    columns = [
        func.sum(r.n).label("n"),
        *(func.sum(case((r.sentiment == s, r.n), else_=0)).label(s) for s in SENTIMENTS),
        *(func.sum(getattr(r, m)).label(m) for m in rollup.MEASURES if m != "n"),
    ]
    stmt = select(*keys, *columns).where(*conditions)
    if keys:
        stmt = stmt.group_by(*keys)
    rows = [_ints(row._mapping) for row in session.execute(stmt)]
    for row in rows:  # "" stands for NULL in the rollup's key columns
        for name in ("stage", "segment"):
            if row.get(name) == rollup.NONE:
                row[name] = None
    return rows


def _rollup_conditions(
    tenant_id: str, f: FeedbackFilter, by: Sequence[str], *, months: bool
) -> list[ColumnElement[bool]]:
    r = DailyRollup
    conditions = [r.tenant_id == tenant_id, _period(f, months=months)]
    equals = {r.channel: f.channel, r.segment: f.segment, r.stage: f.stage, r.sentiment: f.sentiment}
    conditions += [column == value for column, value in equals.items() if value is not None]
    if f.topic is not None:
        conditions.append(r.topic == f.topic)
    else:
        conditions.append(r.topic != rollup.NONE if "topic" in by else r.topic == rollup.NONE)
    return conditions


def _period(f: FeedbackFilter, *, months: bool) -> ColumnElement[bool]:
    """Rollup rows covering the filter's days exactly: month rows for the whole months inside the range (when
    `months`), day rows for the days outside them."""
    r, zone = DailyRollup, rollup.zone()
    low = rollup.local_day(f.written_from, zone) if f.written_from else None
    high = rollup.local_day(f.written_to, zone) if f.written_to else None

    def days(start: date | None, end: date | None) -> ColumnElement[bool]:
        bounds = [r.day >= start] if start else []
        return and_(r.grain == rollup.DAY, *bounds, *([r.day < end] if end else []))

    first_month = low if low is None or low.day == 1 else next_period(low, "month")
    end_month = high.replace(day=1) if high else None
    if not months or (first_month and end_month and first_month >= end_month):
        return days(low, high)
    whole = [r.grain == rollup.MONTH]
    whole += [r.day >= first_month] if first_month else []
    whole += [r.day < end_month] if end_month else []
    parts = [and_(*whole)]
    if low is not None and first_month is not None and low < first_month:
        parts.append(days(low, first_month))
    if high is not None and end_month is not None and end_month < high:
        parts.append(days(end_month, high))
    return or_(*parts)


def latest_day(session: Session, *, tenant_id: str, f: FeedbackFilter) -> date | None:
    """The local day of the newest item the filter matches."""
    if rollup_answers(f, (), None):
        conditions = _rollup_conditions(tenant_id, f, (), months=False)
        stmt = select(func.max(DailyRollup.day)).where(*conditions, DailyRollup.n > 0)
        return session.execute(stmt).scalar()
    latest = session.execute(
        apply_filter(current_analysis_join(select(func.max(Feedback.written_at)).select_from(Feedback)), tenant_id, f)
    ).scalar()
    return rollup.local_day(latest, rollup.zone()) if latest else None


def _day_bucket(session: Session, calendar: Calendar) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.date_trunc(calendar.interval, DailyRollup.day), "YYYY-MM-DD")
    return func.koe_day_period(DailyRollup.day, calendar.interval)


def _raw_json(column: Any) -> ColumnElement[str]:
    """A JSON column read as its text, for `orjson.loads`: the bulk reads below decode thousands of term and
    sentence lists per call, 5× faster than the driver's json.loads (only these lists of strings and floats:
    orjson would turn integers past 64 bits, which metadata may hold, into floats)."""
    return cast(column, Text)


def _ints(row: Any) -> dict[str, Any]:
    # SUM over no rows is NULL, and PostgreSQL returns sums as Decimal: make every tally a plain int.
    return {
        key: (int(value or 0) if key not in DIMENSIONS and key != "period" else value) for key, value in row.items()
    }


def topic_names(session: Session, *, tenant_id: str) -> dict[str, str]:
    """Labels of every taxonomy the tenant ever used, newest last (a few small rows, unlike scanning topics)."""
    stmt = select(TaxonomyVersion.body).where(TaxonomyVersion.tenant_id == tenant_id).order_by(TaxonomyVersion.id)
    return {t["id"]: t["label"] for (body,) in session.execute(stmt) for t in body.get("topics", [])}


QuoteCell = tuple[str | None, str]  # (stage, topic)


def quote_candidates(
    session: Session,
    *,
    tenant_id: str,
    f: FeedbackFilter,
    cells: Sequence[QuoteCell],
    by_stage: bool,
    sentiments: Sequence[str],
    limit: int,
) -> dict[QuoteCell, list[tuple[int, datetime, list[dict[str, Any]]]]]:
    """For every cell, the newest `limit` analyses of the segment with its topic (and, `by_stage`, its stage:
    None then means unclassified items), in the sentiments: id, time and sentences. One round trip: a UNION ALL
    of one newest-first branch per cell, each stopping at its limit (a window function over all cells would rank
    every matching row of the period). The branches find rows from indexes alone; only the chosen rows' sentences
    are read from the analysis table."""
    base = current_analysis_join(
        select(
            Feedback.id.label("feedback_id"),
            Feedback.written_at.label("written_at"),
            AnalysisTopic.topic.label("topic"),
            Analysis.stage.label("stage"),
            Analysis.id.label("analysis_id"),
        ).select_from(Feedback)
    ).join(AnalysisTopic, AnalysisTopic.analysis_id == Analysis.id)
    base = apply_filter(base, tenant_id, f).where(Analysis.sentiment.in_(sentiments))
    branches = []
    for stage, topic in cells:
        branch = base.where(AnalysisTopic.topic == topic)
        if by_stage:
            branch = branch.where(Analysis.stage == stage if stage is not None else Analysis.stage.is_(None))
        newest = branch.order_by(Feedback.written_at.desc(), Feedback.id.desc()).limit(limit).subquery()
        branches.append(select(newest))
    found: dict[QuoteCell, list[tuple[int, datetime, list[dict[str, Any]]]]] = {cell: [] for cell in cells}
    if not branches:
        return found
    rows = union_all(*branches).subquery()
    stmt = (
        select(rows.c.feedback_id, rows.c.written_at, rows.c.topic, rows.c.stage, _raw_json(Analysis.sentences))
        .join(Analysis, Analysis.id == rows.c.analysis_id)
        .order_by(rows.c.topic, rows.c.stage, rows.c.written_at.desc(), rows.c.feedback_id.desc())
    )
    for feedback_id, written_at, topic, stage, sentences in session.execute(stmt):
        found[(stage if by_stage else None, topic)].append((feedback_id, written_at, orjson.loads(sentences)))
    return found


def recent_terms(
    session: Session, *, tenant_id: str, f: FeedbackFilter, limit: int, complement: bool = False
) -> list[list[str]]:
    """Stored terms of the newest `limit` analyses of the segment (or of the rest)."""
    stmt = current_analysis_join(select(_raw_json(Analysis.terms)).select_from(Feedback))
    stmt = stmt.where(Analysis.terms.is_not(None))
    stmt = apply_complement(stmt, tenant_id, f) if complement else apply_filter(stmt, tenant_id, f)
    stmt = stmt.order_by(Feedback.written_at.desc(), Feedback.id.desc()).limit(limit)
    return [terms for (raw,) in session.execute(stmt) if (terms := orjson.loads(raw))]


def respondents(
    session: Session, *, tenant_id: str, f: FeedbackFilter, target: str, limit: int
) -> list[tuple[int, int, list[str]]]:
    """(analysis id, score, topics) of the newest `limit` items with a `target` score (nps or csat), in one
    round trip: the newest respondents as a subquery, their topic rows joined to it."""
    score = {"nps": Feedback.nps, "csat": Feedback.csat}[target]
    newest = current_analysis_join(select(Analysis.id.label("id"), score.label("score")).select_from(Feedback))
    newest = apply_filter(newest.where(score.is_not(None)), tenant_id, f)
    rows = newest.order_by(Feedback.written_at.desc(), Feedback.id.desc()).limit(limit).subquery()
    stmt = select(rows.c.id, rows.c.score, AnalysisTopic.topic).outerjoin(
        AnalysisTopic, AnalysisTopic.analysis_id == rows.c.id
    )
    found: dict[int, tuple[int, list[str]]] = {}
    for analysis_id, value, topic in session.execute(stmt):
        topics = found.setdefault(analysis_id, (value, []))[1]
        if topic is not None:
            topics.append(topic)
    return [(analysis_id, value, topics) for analysis_id, (value, topics) in found.items()]


def emotion_counts(session: Session, *, tenant_id: str, f: FeedbackFilter) -> list[dict[str, Any]]:
    """Per stage: items, items scored with emotions, and per emotion the items expressing it (stage, emotion,
    n). Two grouped queries over the current analyses (not the daily rollup, which has no emotions); the `present`
    list is unnested by the database."""
    per_stage = current_analysis_join(
        select(
            Analysis.stage.label("stage"),
            func.count().label("n"),
            func.count(Analysis.emotions).label("scored"),
        ).select_from(Feedback)
    )
    found: dict[str | None, dict[str, Any]] = {
        row.stage: {"stage": row.stage, "n": row.n, "scored": row.scored, "emotions": {}}
        for row in session.execute(apply_filter(per_stage, tenant_id, f).group_by(Analysis.stage))
    }
    present = _present_emotions(session)
    per_emotion = current_analysis_join(
        select(Analysis.stage.label("stage"), present.c.value.label("emotion"), func.count().label("n")).select_from(
            Feedback
        )
    ).join(present, true())
    per_emotion = apply_filter(per_emotion, tenant_id, f).group_by(Analysis.stage, present.c.value)
    for row in session.execute(per_emotion):
        found[row.stage]["emotions"][row.emotion] = row.n
    return list(found.values())


def _present_emotions(session: Session) -> Any:
    """The analysis's `emotions.present` list as rows (a table-valued function of the row, lateral by nature)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.jsonb_array_elements_text(Analysis.emotions["present"]).table_valued("value").alias("present")
    return func.json_each(Analysis.emotions, "$.present").table_valued("value").alias("present")


def aspect_counts(
    session: Session, *, tenant_id: str, f: FeedbackFilter, rank_by: str, limit: int
) -> tuple[int, int, list[dict[str, Any]]]:
    """Items, items scored with aspects, and the top `limit` aspect terms (mentions, items, positive, negative),
    ranked by mentions or by negative mentions. The stored `aspects` list is unnested by the database."""
    per_item = current_analysis_join(
        select(func.count().label("n"), func.count(Analysis.aspects).label("scored")).select_from(Feedback)
    )
    n, scored = session.execute(apply_filter(per_item, tenant_id, f)).one()
    pairs = _aspect_pairs(session)
    term, polarity = _json_text(session, pairs.c.value, "term"), _json_text(session, pairs.c.value, "polarity")
    mentions, negative = func.count().label("mentions"), func.sum(case((polarity == "negative", 1), else_=0))
    stmt = current_analysis_join(
        select(
            term.label("term"),
            mentions,
            func.count(Feedback.id.distinct()).label("items"),
            func.sum(case((polarity == "positive", 1), else_=0)).label("positive"),
            negative.label("negative"),
        ).select_from(Feedback)
    ).join(pairs, true())
    order = (negative.desc(), mentions.desc()) if rank_by == "negative" else (mentions.desc(), negative.desc())
    stmt = apply_filter(stmt, tenant_id, f).group_by(term).order_by(*order, term).limit(limit)
    return n, scored, [row._asdict() for row in session.execute(stmt)]


def _aspect_pairs(session: Session) -> Any:
    """The analysis's `aspects` list as rows, one aspect–opinion pair each."""
    if session.get_bind().dialect.name == "postgresql":
        return func.jsonb_array_elements(Analysis.aspects).table_valued("value").alias("pairs")
    return func.json_each(Analysis.aspects).table_valued("value").alias("pairs")


def _json_text(session: Session, value: Any, key: str) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return value.op("->>")(key)
    return func.json_extract(value, f"$.{key}")
