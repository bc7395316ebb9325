"""emotions on analysis: the trained model's Plutchik emotions (null for rule analyses and earlier scorings)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("analysis") as batch_op:
        batch_op.add_column(sa.Column("emotions", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysis") as batch_op:
        batch_op.drop_column("emotions")
