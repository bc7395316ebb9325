"""feedback_label: analysts' corrections of an item's sentiment, topics, stage and emotions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feedback_label",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("feedback_id", BIG_ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=True),
        sa.Column("topics", JSON, nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("emotions", JSON, nullable=True),
        sa.Column("analysis_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["feedback_id"],
            ["feedback.id"],
            name=op.f("fk_feedback_label_feedback_id_feedback"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_label")),
    )
    op.create_index("ix_feedback_label_tenant_feedback", "feedback_label", ["tenant_id", "feedback_id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_label_tenant_feedback", table_name="feedback_label")
    op.drop_table("feedback_label")
