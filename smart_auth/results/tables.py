"""State of results without an account (F9).

``result_grant``: a short-lived read-only grant to one DiagnosticReport and its PDF, minted
from a valid result code; only the SHA-256 digest of its bearer token is kept.
Attempts are counted by the shared limiter (``smart_auth.limiter``, keys
``result:nid:<digest of the national ID>`` and ``result:addr:<address>``), in the database, so
every worker and host counts the same attempts (ARCHITECTURE boundary 5). National IDs are
never stored in clear. The ``result_attempt`` table of earlier versions is no longer used.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table

from smart_auth.state import metadata

result_grant = Table(
    "result_grant",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("his_patient_id", Integer, nullable=False),
    Column("bulletin_id", Integer, nullable=False),
    Column("document_id", Integer),
    Column("expires_at", DateTime, nullable=False),
)
Index("ix_result_grant_expires", result_grant.c.expires_at)
