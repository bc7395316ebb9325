"""conversations: transcript turns on feedback, per-turn results on analysis

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch_op:
        batch_op.add_column(sa.Column("turns", JSON, nullable=True))
    with op.batch_alter_table("analysis") as batch_op:
        batch_op.add_column(sa.Column("conversation", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysis") as batch_op:
        batch_op.drop_column("conversation")
    with op.batch_alter_table("feedback") as batch_op:
        batch_op.drop_column("turns")
