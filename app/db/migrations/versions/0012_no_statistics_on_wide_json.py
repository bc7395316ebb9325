"""no planner statistics on the wide JSON columns no query filters, joins or groups on (PostgreSQL)

ANALYZE read and summarized every sampled row's sentences, explanations, scores and turns: on 30,000 stored items it
took 0.84 s for feedback + analysis + analysis_topic (0.68 s of it for analysis), 0.3 s without these columns. Writers
run ANALYZE as they grow the tables (app/db/repositories/statistics.py), and autovacuum does in production.
`analysis.terms` keeps its statistics: keyword analytics filter on it being set.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UNFILTERED = {
    "analysis": (
        "model_versions",
        "sentiment_scores",
        "stage_scores",
        "sentences",
        "explanations",
        "warnings",
        "conversation",
        "emotions",
        "aspects",
    ),
    "feedback": ("text", "turns"),
}


def _set_statistics(target: int) -> None:
    if op.get_bind().dialect.name != "postgresql":  # SQLite keeps no per-column statistics target
        return
    for table, columns in UNFILTERED.items():
        for column in columns:
            op.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" SET STATISTICS {target}')


def upgrade() -> None:
    _set_statistics(0)


def downgrade() -> None:
    _set_statistics(-1)  # the server's default_statistics_target
