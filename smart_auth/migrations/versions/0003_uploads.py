"""Patients' uploads (F17): the files (``upload_binary``), their documents
(``upload_document``) and the per-patient lock row of the quota (``upload_account``).

Revision ID: 0003_uploads
Revises: 0002_current
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_uploads"
down_revision = "0004_shares"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_account",
        sa.Column("his_patient_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("touched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("his_patient_id"),
    )
    op.create_table(
        "upload_binary",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("his_patient_id", sa.Integer(), nullable=False),
        sa.Column("uploader", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("sha1", sa.String(length=40), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_upload_binary_patient", "upload_binary", ["his_patient_id", "state"])
    op.create_index("ix_upload_binary_lease", "upload_binary", ["state", "lease_until"])
    op.create_table(
        "upload_document",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("binary_id", sa.String(length=32), nullable=False),
        sa.Column("his_patient_id", sa.Integer(), nullable=False),
        sa.Column("author_subject", sa.String(length=128), nullable=False),
        sa.Column("author_reference", sa.String(length=160), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("his_handed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("binary_id"),
    )
    op.create_index("ix_upload_document_patient", "upload_document", ["his_patient_id", "created"])
    op.create_index("ix_upload_document_handed", "upload_document", ["his_handed_at"])


def downgrade() -> None:
    op.drop_table("upload_document")
    op.drop_table("upload_binary")
    op.drop_table("upload_account")
