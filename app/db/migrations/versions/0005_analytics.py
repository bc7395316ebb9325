"""analytics and privacy: terms on analysis, the daily rollup (backfilled), per-tenant settings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
MEASURES = ("n", "nps_n", "promoters", "detractors", "csat_n", "csat_satisfied", "ces_n", "ces_sum")


def upgrade() -> None:
    with op.batch_alter_table("analysis") as batch_op:
        batch_op.add_column(sa.Column("terms", JSON, nullable=True))
    op.create_table(
        "daily_rollup",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("segment", sa.String(length=128), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        *(sa.Column(m, sa.Integer(), nullable=False) for m in MEASURES),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "grain",
            "day",
            "channel",
            "segment",
            "stage",
            "sentiment",
            "topic",
            name=op.f("pk_daily_rollup"),
        ),
    )
    op.create_table(
        "tenant_setting",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("pii_redaction", sa.String(length=8), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_setting")),
    )
    # Items stored before this revision are counted once, here (the app keeps the rollup exact from now on).
    from app.core.config import get_settings
    from app.db.repositories.rollup import rebuild

    rebuild(Session(bind=op.get_bind()), zone=get_settings().timezone)


def downgrade() -> None:
    op.drop_table("tenant_setting")
    op.drop_table("daily_rollup")
    with op.batch_alter_table("analysis") as batch_op:
        batch_op.drop_column("terms")
