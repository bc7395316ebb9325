"""Feedback and analysis persistence: the only place that builds their queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, String, Table, and_, bindparam, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql
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
    """Existing items keyed by (source, external_id). Their ids first, in one cached Core statement: most keys
    are new, and an ORM query that finds nothing cost as much CPU as one that loads."""
    keys = list(keys)
    dialect = session.get_bind().dialect.name
    ids: list[int] = []
    for chunk_start in range(0, len(keys), 500):
        chunk = keys[chunk_start : chunk_start + 500]
        params: dict[str, Any]
        if dialect == "postgresql":  # the keys as two arrays, unnested by the statement
            params = {"sources": [s for s, _ in chunk], "external_ids": [e for _, e in chunk]}
        else:
            params = {"keys": chunk}
        # On the connection: through the Session, a Core statement of mapped columns went through the ORM's
        # compile and result machinery, a third of the lookup's CPU.
        ids += session.connection().scalars(_ids_by_key(dialect), {"tenant_id": tenant_id, **params})
    if not ids:
        return {}
    stmt = select(Feedback).where(Feedback.id.in_(ids)).options(selectinload(Feedback.analyses))
    return {(f.source, f.external_id or ""): f for f in session.scalars(stmt)}


@cache
def _ids_by_key(dialect: str) -> Any:
    """On PostgreSQL, the keys as a table joined to `feedback`: one probe of the unique index per key, on all three
    of its columns, whatever the planner believes. Given as `(source, external_id) IN (…)`, the keys of a source
    it had not yet seen in its statistics were planned as that source's one row, filtered: every row of the source
    read for each lookup (an upload into a table of a million rows slowed from 340 to 145 rows/s per worker within
    300,000 rows; 471 ms for 3 keys among 335,000, against 0.2 ms joined)."""
    if dialect != "postgresql":
        keys = tuple_(Feedback.source, Feedback.external_id).in_(bindparam("keys", expanding=True))
        return select(Feedback.id).where(Feedback.tenant_id == bindparam("tenant_id"), keys)
    wanted = (
        func.unnest(
            bindparam("sources", type_=postgresql.ARRAY(String)),
            bindparam("external_ids", type_=postgresql.ARRAY(String)),
        )
        .table_valued("source", "external_id")
        .render_derived()
    )
    match = and_(
        Feedback.tenant_id == bindparam("tenant_id"),
        Feedback.source == wanted.c.source,
        Feedback.external_id == wanted.c.external_id,
    )
    return select(Feedback.id).select_from(wanted).join(Feedback, match)


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


def insert_new(session: Session, rows: Sequence[Feedback]) -> None:
    """Insert new items with their analyses and topics, built in memory and never added to the session, in Core
    statements; the rows get their ids. The ORM's unit of work cost a third of a single-item POST's CPU for what
    three INSERTs do. On PostgreSQL a batch takes its ids from the sequences first (one query per table), then
    goes in by COPY: psycopg's executemany (one Bind/Execute per row, in pipeline mode) was a fifth of an upload
    job's CPU."""
    if not rows:
        return
    analyses = [a for r in rows for a in r.analyses]
    _insert(session, rows)
    for row in rows:
        for analysis in row.analyses:
            analysis.feedback_id = row.id
    _insert(session, analyses)
    topics = [t for a in analyses for t in a.topics]
    for analysis in analyses:
        for topic in analysis.topics:
            topic.analysis_id = analysis.id
    if topics:
        topic_table: Table = AnalysisTopic.__table__  # type: ignore[assignment]
        _write(session.connection(), topic_table, [_values(t) for t in topics])


def _insert(session: Session, objects: Sequence[Any]) -> None:  # Feedback or Analysis rows
    table: Table = type(objects[0]).__table__
    connection = session.connection()
    if len(objects) > 1 and connection.dialect.name == "postgresql":
        for ident, obj in zip(_next_ids(session, table.name, len(objects)), objects, strict=True):
            obj.id = ident
        _write(connection, table, [_values(o) for o in objects])
        return
    idents = connection.execute(_insert_returning_id(table), [_values(o, with_id=False) for o in objects]).scalars()
    for obj, ident in zip(objects, idents, strict=True):
        obj.id = ident


def _write(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows with every column given: COPY on PostgreSQL when there are several, else an INSERT."""
    if len(rows) < 2 or connection.dialect.name != "postgresql":
        connection.execute(_plain_insert(table), rows)
        return
    dialect, keys = connection.dialect, list(rows[0])
    # The columns' own bind processing (UTC datetimes, JSON wrapped for psycopg), as an INSERT would apply it.
    processors = [table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys]
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(table.c[k].name) for k in keys)
    dbapi: Any = connection.connection.dbapi_connection  # a psycopg connection (DBAPI types know no COPY)
    with dbapi.cursor() as cursor, cursor.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([p(row[k]) if p else row[k] for k, p in zip(keys, processors, strict=True)])


# Statements built once per table: building one cost as much CPU as running it (measured on a single-item POST).
@cache
def _insert_returning_id(table: Table) -> Any:
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


@cache
def _plain_insert(table: Table) -> Any:
    return insert(table)


@cache
def _ids_query(table: str) -> Any:
    return select(func.nextval(f"{table}_id_seq")).select_from(func.generate_series(1, bindparam("n")))


def _values(obj: Any, *, with_id: bool = True) -> dict[str, Any]:
    """Column values of a mapped object by column key, each missing one given its column default now (every row of
    an executemany must bind the same parameters)."""
    values = {}
    for attr_key, column_key, default in _columns(obj.__class__):
        if attr_key == "id" and not with_id:
            continue
        value = getattr(obj, attr_key)
        if value is None and default is not None:
            value = default(None) if callable(default) else default
            setattr(obj, attr_key, value)
        values[column_key] = value
    return values


@cache
def _columns(mapped: Any) -> list[tuple[str, str, Any]]:
    """(attribute key, column key, column default) of a mapped class, read once: reading them from the mapper
    for every row was a tenth of an insert's CPU."""
    columns = []
    for attr in mapped.__mapper__.column_attrs:
        column = attr.columns[0]
        columns.append((attr.key, column.key, column.default.arg if column.default is not None else None))
    return columns


def _next_ids(session: Session, table: str, n: int) -> list[int]:
    return list(session.connection().scalars(_ids_query(table), {"n": n}))


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
