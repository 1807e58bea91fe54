"""Shares with a person outside (F21): ``outside_share`` (recipient, PIN hash, link digest,
time limit, what is shared) and ``outside_share_token`` (the short-lived tokens a right PIN
mints, by digest).

Revision ID: 0004_shares
Revises: 0002_current
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_shares"
down_revision = "0005_questionnaires"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outside_share",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("his_patient_id", sa.Integer(), nullable=False),
        sa.Column("link_hash", sa.String(length=64), nullable=False),
        sa.Column("pin_hash", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("resources", sa.Text(), nullable=True),
        sa.Column("studies", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("period_end", sa.DateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("locked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("granted_by", sa.String(length=128), nullable=True),
        sa.Column("owner_email", sa.String(length=254), nullable=True),
        sa.Column("owner_language", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("link_hash"),
    )
    op.create_index("ix_outside_share_patient", "outside_share", ["his_patient_id"])
    op.create_table(
        "outside_share_token",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_outside_share_token_expires", "outside_share_token", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_outside_share_token_expires", table_name="outside_share_token")
    op.drop_table("outside_share_token")
    op.drop_index("ix_outside_share_patient", table_name="outside_share")
    op.drop_table("outside_share")
