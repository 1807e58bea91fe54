"""The proof-of-work solutions already accepted, so that each is accepted once."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from smart_auth.state import metadata

altcha_spent = Table(
    "altcha_spent",
    metadata,
    #: SHA-256 of the challenge's signature (hex)
    Column("digest", String(64), primary_key=True),
    #: when the challenge expires (Unix seconds): the row may go after it
    Column("expires_at", BigInteger, nullable=False),
)
Index("ix_altcha_spent_expires", altcha_spent.c.expires_at)
