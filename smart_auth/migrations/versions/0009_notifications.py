"""The job queue and the notifications: queue messages, periodic runs, the change feed's
cursor, events, deliveries and preferences (``smart_auth/notifications/tables.py``).

Revision ID: 0009_notifications
Revises: 0002_current
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_notifications"
down_revision = "0008_booking"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_message",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("visible_at", sa.BigInteger(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("dead", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_message_queue_visible", "job_message", ["queue", "dead", "visible_at"])
    op.create_table(
        "periodic_run",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("slot", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("name", "slot"),
    )
    op.create_table(
        "notification_cursor",
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("his_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "notification_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_notification_event_patient", "notification_event", ["patient_id", "id"])
    op.create_table(
        "notification_delivery",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["notification_event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "channel", name="uq_notification_delivery_event_channel"),
    )
    op.create_index("ix_notification_delivery_state", "notification_delivery", ["state", "id"])
    op.create_table(
        "notification_preference",
        sa.Column("patient_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("email_kinds", sa.Text(), nullable=False),
        sa.Column("sms_kinds", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
    )


def downgrade() -> None:
    op.drop_table("notification_preference")
    op.drop_index("ix_notification_delivery_state", table_name="notification_delivery")
    op.drop_table("notification_delivery")
    op.drop_index("ix_notification_event_patient", table_name="notification_event")
    op.drop_table("notification_event")
    op.drop_table("notification_cursor")
    op.drop_table("periodic_run")
    op.drop_index("ix_job_message_queue_visible", table_name="job_message")
    op.drop_table("job_message")
