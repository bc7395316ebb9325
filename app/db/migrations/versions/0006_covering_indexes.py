"""read paths on PostgreSQL: covering indexes (the filter columns ride in the feedback time index and the
analysis feedback_id index, so analytics' newest-rows reads are index-only scans); room for HOT updates in the
daily rollup and its rows clustered by key (a range of days then reads few pages)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FEEDBACK_FILTERED = ["id", "channel", "segment", "source", "nps", "csat", "ces"]
ANALYSIS_FILTERED = ["id", "is_current", "stage", "sentiment"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no INCLUDE: its indexes stay as they were
    _replace("ix_feedback_tenant_written", "feedback", ["tenant_id", "written_at"], FEEDBACK_FILTERED)
    _replace("ix_analysis_feedback_id", "analysis", ["feedback_id"], ANALYSIS_FILTERED)
    op.execute("ALTER TABLE daily_rollup SET (fillfactor = 80)")
    # Rewrites it in key order, leaving that room (an exclusive lock for the seconds it takes: ~3 s at 1 M items).
    op.execute("CLUSTER daily_rollup USING pk_daily_rollup")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _replace("ix_feedback_tenant_written", "feedback", ["tenant_id", "written_at"], [])
    _replace("ix_analysis_feedback_id", "analysis", ["feedback_id"], [])
    op.execute("ALTER TABLE daily_rollup RESET (fillfactor)")


def _replace(name: str, table: str, columns: list[str], include: list[str]) -> None:
    op.drop_index(name, table_name=table)
    op.create_index(name, table, columns, postgresql_include=include)
