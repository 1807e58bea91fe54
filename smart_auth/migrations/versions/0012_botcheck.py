"""Bot protection (F3): ``altcha_spent``, the proof-of-work solutions already accepted (by the
digest of their challenge's signature, until it expires), so each is accepted once.

Revision ID: 0012_botcheck
Revises: 0011_retire_appt_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_botcheck"
down_revision = "0011_retire_appt_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "altcha_spent",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index("ix_altcha_spent_expires", "altcha_spent", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_altcha_spent_expires", table_name="altcha_spent")
    op.drop_table("altcha_spent")
