"""The first schema: patients, exams, exam_regions, exam_photos.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pseudonym", sa.String(128), nullable=False, unique=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "exams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("patient_id", sa.Integer(), sa.ForeignKey("patients.id", ondelete="CASCADE"), nullable=False),
        sa.Column("exam_date", sa.Date(), nullable=False),
        sa.Column("date_source", sa.String(40), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(128)),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("outside_healthy_range", sa.Boolean()),
        sa.Column("more_affected_side", sa.String(10)),
        sa.Column("palsy_pattern", sa.JSON()),
        sa.Column("overall_score", sa.Float()),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("run", sa.Text()),
        sa.Column("facepalsy_version", sa.String(40), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
    )
    op.create_index("ix_exams_patient_id", "exams", ["patient_id"])
    op.create_table(
        "exam_regions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("exam_id", sa.Integer(), sa.ForeignKey("exams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("region", sa.String(20), nullable=False),
        sa.Column("score", sa.Float()),
        sa.Column("healthy_percentile", sa.Float()),
        sa.Column("outside_healthy_range", sa.Boolean(), nullable=False),
        sa.Column("weaker_side", sa.String(10)),
        sa.Column("symmetry_percent", sa.Float()),
        sa.Column("expression", sa.String(40)),
    )
    op.create_index("ix_exam_regions_exam_id", "exam_regions", ["exam_id"])
    op.create_table(
        "exam_photos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("exam_id", sa.Integer(), sa.ForeignKey("exams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("expression", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("suffix", sa.String(10), nullable=False),
        sa.Column("data", sa.LargeBinary()),
    )
    op.create_index("ix_exam_photos_exam_id", "exam_photos", ["exam_id"])


def downgrade() -> None:
    for table in ("exam_photos", "exam_regions", "exams", "patients"):
        op.drop_table(table)
