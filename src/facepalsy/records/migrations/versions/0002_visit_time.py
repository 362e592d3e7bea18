"""A visit's time of day: two exams of one patient on one date are two visits only when their times tell them apart.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exams") as batch:
        batch.add_column(sa.Column("visit_time", sa.String(5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exams") as batch:
        batch.drop_column("visit_time")
