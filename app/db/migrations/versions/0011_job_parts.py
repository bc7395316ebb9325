"""job parts: a large upload split into jobs of its own (parent_id), which workers on any machine run side by side

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("job") as batch_op:
        batch_op.add_column(sa.Column("parent_id", BIG_ID, nullable=True))
        batch_op.add_column(sa.Column("parts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_foreign_key(op.f("fk_job_parent_id_job"), "job", ["parent_id"], ["id"], ondelete="CASCADE")
        batch_op.create_index(op.f("ix_job_parent_id"), ["parent_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job") as batch_op:
        batch_op.drop_index(op.f("ix_job_parent_id"))
        batch_op.drop_constraint(op.f("fk_job_parent_id_job"), type_="foreignkey")
        batch_op.drop_column("parts")
        batch_op.drop_column("parent_id")
