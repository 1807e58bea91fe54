"""FHIR Subscriptions: the subscriptions apps made and their deliveries
(``smart_auth/subscriptions/tables.py``).

Revision ID: 0010_subscriptions
Revises: 0009_notifications
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_subscriptions"
down_revision = "0009_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_subscription",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=True),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("filter_patient", sa.Integer(), nullable=True),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("payload", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("heartbeat_s", sa.Integer(), nullable=True),
        sa.Column("timeout_s", sa.Integer(), nullable=False),
        sa.Column("max_count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("end_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("events_count", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("next_heartbeat_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fhir_subscription_owner", "fhir_subscription", ["client_id", "account_id"])
    op.create_index("ix_fhir_subscription_topic", "fhir_subscription", ["topic", "status"])
    op.create_table(
        "fhir_subscription_delivery",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("event_number", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["fhir_subscription.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["notification_event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name="uq_fhir_subscription_delivery_event"
        ),
        sa.UniqueConstraint(
            "subscription_id", "event_number", name="uq_fhir_subscription_delivery_number"
        ),
    )
    op.create_index(
        "ix_fhir_subscription_delivery_state", "fhir_subscription_delivery", ["state", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_fhir_subscription_delivery_state", table_name="fhir_subscription_delivery")
    op.drop_table("fhir_subscription_delivery")
    op.drop_index("ix_fhir_subscription_topic", table_name="fhir_subscription")
    op.drop_index("ix_fhir_subscription_owner", table_name="fhir_subscription")
    op.drop_table("fhir_subscription")
