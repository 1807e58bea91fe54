"""State tables of accounts and the identities they act for (F1-F8).

``account``: one person who signs in. ``identity``: the HIS patients an account acts for: its
own (relation ``self``) and persons in its care (``guardian``, verified against the HIS
guardian link). The authorization server reads ``identity`` to offer the patient picker and to
put ``patient`` in a token's launch context.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from smart_auth.state import metadata

account = Table(
    "account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("phone", String(32)),
    Column("full_name", String(200), nullable=False, default=""),
    Column("password_hash", String(200)),
    Column("email_verified_at", DateTime),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
)

identity = Table(
    "identity",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
    Column("his_patient_id", Integer, nullable=False),
    #: self | guardian
    Column("relation", String(16), nullable=False),
    Column("verified_at", DateTime, nullable=False),
    UniqueConstraint("account_id", "his_patient_id"),
)
