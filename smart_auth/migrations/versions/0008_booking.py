"""Appointment events (``appointment_event``): what ``Appointment/$book`` booked, moved or
cancelled, for the notifications to deliver.

Revision ID: 0008_booking
Revises: 0002_current
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_booking"
down_revision = "0003_uploads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appointment_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("his_appointment_id", sa.Integer(), nullable=False),
        sa.Column("his_patient_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_appointment_event_appointment", "appointment_event", ["his_appointment_id"])


def downgrade() -> None:
    op.drop_index("ix_appointment_event_appointment", table_name="appointment_event")
    op.drop_table("appointment_event")
