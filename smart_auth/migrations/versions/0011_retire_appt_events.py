"""The booking's own table of appointment events (``appointment_event``) is retired: a booking,
move or cancellation made through the gateway goes on the job queue as a notification event
(recorded by a worker in ``notification_event``, under the key the HIS change feed gives the
same change), and the feed finds every other. Its rows were never read; nothing is carried over.

Revision ID: 0011_retire_appt_events
Revises: 0010_subscriptions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_retire_appt_events"
down_revision = "0010_subscriptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_appointment_event_appointment", table_name="appointment_event")
    op.drop_table("appointment_event")


def downgrade() -> None:
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
