"""EHR launches a confidential client starts itself on the back channel carry the scope the
person already approved for it (``oauth_launch.scope``; ``smart_auth/oauth/tables.py``).

Revision ID: 0013_launch_scope
Revises: 0012_botcheck
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_launch_scope"
down_revision = "0012_botcheck"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_launch") as batch:
        batch.add_column(sa.Column("scope", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_launch") as batch:
        batch.drop_column("scope")
