"""From the previous release to the current schema: the shared attempt limiter
(``attempt_counter``, replacing ``result_attempt``), codes already exchanged
(``oauth_code_used``), self-registrations in flight (``registration``) and the Consent terms of
a share (``period_start``, ``period_end``, ``classes``, ``resources``; NULL keeps the old
meaning, the whole record without end).

Databases made between the two releases (``create_all`` at start-up, and the share columns
added by hand) may hold some of these already: what exists is left as it is.

Revision ID: 0002_current
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_current"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

_TERMS = (
    ("period_start", sa.DateTime),
    ("period_end", sa.DateTime),
    ("classes", sa.Text),
    ("resources", sa.Text),
)


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade() -> None:
    tables = _tables()
    if "attempt_counter" not in tables:
        op.create_table(
            "attempt_counter",
            sa.Column("key", sa.String(length=120), nullable=False),
            sa.Column("pending", sa.Integer(), nullable=False),
            sa.Column("failures", sa.Integer(), nullable=False),
            sa.Column("window_start", sa.DateTime(), nullable=False),
            sa.Column("blocked_until", sa.DateTime(), nullable=True),
            sa.Column("touched_at", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint("key"),
        )
    if "oauth_code_used" not in tables:
        op.create_table(
            "oauth_code_used",
            sa.Column("code_hash", sa.String(length=64), nullable=False),
            sa.Column("reused", sa.Boolean(), nullable=False),
            sa.Column("forget_at", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("code_hash"),
        )
        op.create_index("ix_oauth_code_used_forget", "oauth_code_used", ["forget_at"])
    if "registration" not in tables:
        op.create_table(
            "registration",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            sa.Column("his_patient_id", sa.Integer(), nullable=False),
            sa.Column("email", sa.String(length=254), nullable=False),
            sa.Column("language", sa.String(length=8), nullable=True),
            sa.Column("expires_at", sa.DateTime(), nullable=False),
            sa.Column("used_at", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("token_hash"),
        )
        op.create_index("ix_registration_patient", "registration", ["his_patient_id"])
    # the limiter's counters start afresh: a failure count is no data worth moving
    if "result_attempt" in tables:
        op.drop_table("result_attempt")
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("share")}
    missing = [(name, kind) for name, kind in _TERMS if name not in present]
    if missing:
        with op.batch_alter_table("share") as batch_op:
            for name, kind in missing:
                batch_op.add_column(sa.Column(name, kind(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("share") as batch_op:
        for name, _kind in reversed(_TERMS):
            batch_op.drop_column(name)
    op.create_table(
        "result_attempt",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.drop_index("ix_registration_patient", table_name="registration")
    op.drop_table("registration")
    op.drop_index("ix_oauth_code_used_forget", table_name="oauth_code_used")
    op.drop_table("oauth_code_used")
    op.drop_table("attempt_counter")
