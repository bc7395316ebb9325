"""Planner statistics of the tables koe's writers grow (PostgreSQL; SQLite's planner assumes its indexes are
selective and needs none).

PostgreSQL plans every write's existing-key lookup from what it last learnt of `feedback`. A table that grew
from nothing without an ANALYZE (autovacuum off, as on the machine the benchmarks run on, or not round yet) is
planned as if still tiny: the lookup then reads every stored row of the source (or of the tenant) instead of
seeking its keys, and each write costs more than the one before (300,000 rows uploaded into an empty table: 950 → 600
rows/s within two minutes, the database's process on a whole core; back to 925 rows/s right after one ANALYZE;
a 4-key lookup among 18,900 rows: 8.7 ms, against 0.2 ms once analyzed)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

GROWN_BY_JOBS = ("feedback", "analysis", "analysis_topic")


class PlannerStatistics:
    """Keeps the planner's picture of the tables a writer (an upload job, a process's POSTs) grows true while it
    grows them: once the writer has added a tenth of the rows the planner believes `feedback` holds (autovacuum's own
    default rule), and at least every MIN_ROWS rows, it runs ANALYZE itself instead of waiting for autovacuum, which
    may be off or behind. Counts are per writer: two writers of one table each analyze after their own share."""

    SCALE = 0.1
    MIN_ROWS = 1_000

    def __init__(self) -> None:
        self.written = 0
        self.believed: int | None = None  # read at the first write

    def wrote(self, session: Session, rows: int) -> None:
        """`rows` were just committed through `session`: analyze now if due."""
        if self.due(session, rows):
            self.refresh(session)

    def due(self, session: Session, rows: int) -> bool:
        """Count `rows` just committed through `session`; True (once) when the tables should be analyzed, which
        the caller then does with `refresh`, at once or after answering its requests."""
        if not tracked(session):
            return False
        if self.believed is None:
            self.believed = believed_rows(session)
        self.written += rows
        if self.written < max(self.MIN_ROWS, self.SCALE * self.believed):
            return False
        self.written = 0
        return True

    def refresh(self, session: Session) -> None:
        analyze(session)
        self.believed = believed_rows(session)


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
