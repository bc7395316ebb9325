"""jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("rows_total", BIG_ID, nullable=True),
        sa.Column("rows_done", BIG_ID, nullable=False),
        sa.Column("rows_failed", BIG_ID, nullable=False),
        sa.Column("created", BIG_ID, nullable=False),
        sa.Column("updated", BIG_ID, nullable=False),
        sa.Column("unchanged", BIG_ID, nullable=False),
        sa.Column("checkpoint", BIG_ID, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index("ix_job_status", ["status", "updated_at"], unique=False)
        batch_op.create_index("ix_job_tenant", ["tenant_id", "id"], unique=False)

    op.create_table(
        "job_error",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("job_id", BIG_ID, nullable=False),
        sa.Column("row_number", BIG_ID, nullable=False),
        sa.Column("column", sa.String(length=256), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_job_error_job_id_job"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_error")),
    )
    with op.batch_alter_table("job_error", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_error_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_error", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_error_job_id"))

    op.drop_table("job_error")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_tenant")
        batch_op.drop_index("ix_job_status")

    op.drop_table("job")
