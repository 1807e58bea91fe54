"""The questionnaire assignment mail (F18): ``questionnaire_notice`` (one row per assignment
mailed, its key making the mail go out once) and ``questionnaire_sweep`` (the sweep's cursor
in the HIS).

Revision ID: 0005_questionnaires
Revises: 0002_current
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_questionnaires"
down_revision = "0002_current"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "questionnaire_notice",
        sa.Column("assignment_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("his_patient_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("assignment_id"),
    )
    op.create_index("ix_questionnaire_notice_outcome", "questionnaire_notice", ["outcome"])
    op.create_table(
        "questionnaire_sweep",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("his_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("questionnaire_sweep")
    op.drop_index("ix_questionnaire_notice_outcome", table_name="questionnaire_notice")
    op.drop_table("questionnaire_notice")
