"""aspects on analysis: the trained model's aspect–opinion pairs (null for analyses without an aspect tagger)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("analysis") as batch_op:
        batch_op.add_column(sa.Column("aspects", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysis") as batch_op:
        batch_op.drop_column("aspects")
