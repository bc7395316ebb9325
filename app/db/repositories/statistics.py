"""Planner statistics of the tables bulk jobs grow (PostgreSQL; SQLite's planner assumes its indexes are selective
and needs none).

PostgreSQL plans every chunk's existing-key lookup from what it last learnt of `feedback`. A table that grew
from nothing without an ANALYZE (autovacuum off, as on the machine the benchmarks run on, or not round yet) is
planned as if still tiny: the lookup then reads every stored row of the upload's source instead of seeking its
keys, and each chunk costs more than the one before (300,000 rows into an empty table: 950 → 600 rows/s within
two minutes, the database's process on a whole core; back to 925 rows/s right after one ANALYZE)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

GROWN_BY_JOBS = ("feedback", "analysis", "analysis_topic")


def tracked(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def believed_rows(session: Session) -> int:
    """How many rows the planner believes `feedback` holds (0 if it was never analyzed)."""
    estimate = session.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'feedback'::regclass")).scalar()
    return max(int(estimate or 0), 0)


def analyze(session: Session) -> None:
    """Refresh the statistics, in a transaction of its own (ANALYZE samples ~30,000 rows per table)."""
    session.commit()
    session.execute(text(f"ANALYZE {', '.join(GROWN_BY_JOBS)}"))
    session.commit()
