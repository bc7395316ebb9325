"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite auto-increments INTEGER keys only


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("nps", sa.SmallInteger(), nullable=True),
        sa.Column("csat", sa.SmallInteger(), nullable=True),
        sa.Column("ces", sa.SmallInteger(), nullable=True),
        sa.Column("touchpoint", sa.String(length=64), nullable=True),
        sa.Column("stage_given", sa.String(length=16), nullable=True),
        sa.Column("customer_id", sa.String(length=128), nullable=True),
        sa.Column("segment", sa.String(length=128), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("tenant_id", "source", "external_id", name="uq_feedback_tenant_source_external"),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_tenant_written", ["tenant_id", "written_at"], unique=False)

    op.create_table(
        "taxonomy",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("digest", sa.String(length=16), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomy")),
    )
    with op.batch_alter_table("taxonomy", schema=None) as batch_op:
        batch_op.create_index("ix_taxonomy_tenant_active", ["tenant_id", "is_active"], unique=False)

    op.create_table(
        "analysis",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("feedback_id", BIG_ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pipeline_version", sa.String(length=512), nullable=False),
        sa.Column("model_versions", JSON, nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=False),
        sa.Column("sentiment_scores", JSON, nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("stage_predicted", sa.String(length=16), nullable=True),
        sa.Column("stage_source", sa.String(length=16), nullable=False),
        sa.Column("stage_scores", JSON, nullable=False),
        sa.Column("sentences", JSON, nullable=False),
        sa.Column("explanations", JSON, nullable=False),
        sa.Column("warnings", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["feedback_id"],
            ["feedback.id"],
            name=op.f("fk_analysis_feedback_id_feedback"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis")),
        sa.UniqueConstraint("feedback_id", "pipeline_version", name="uq_analysis_feedback_pipeline"),
    )
    with op.batch_alter_table("analysis", schema=None) as batch_op:
        batch_op.create_index("ix_analysis_current", ["tenant_id", "is_current", "stage", "sentiment"], unique=False)
        batch_op.create_index(batch_op.f("ix_analysis_feedback_id"), ["feedback_id"], unique=False)

    op.create_table(
        "analysis_topic",
        sa.Column("analysis_id", BIG_ID, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["analysis.id"],
            name=op.f("fk_analysis_topic_analysis_id_analysis"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("analysis_id", "topic", name=op.f("pk_analysis_topic")),
    )
    with op.batch_alter_table("analysis_topic", schema=None) as batch_op:
        batch_op.create_index("ix_analysis_topic_tenant_topic", ["tenant_id", "topic"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("analysis_topic", schema=None) as batch_op:
        batch_op.drop_index("ix_analysis_topic_tenant_topic")

    op.drop_table("analysis_topic")
    with op.batch_alter_table("analysis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analysis_feedback_id"))
        batch_op.drop_index("ix_analysis_current")

    op.drop_table("analysis")
    with op.batch_alter_table("taxonomy", schema=None) as batch_op:
        batch_op.drop_index("ix_taxonomy_tenant_active")

    op.drop_table("taxonomy")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_tenant_written")

    op.drop_table("feedback")
