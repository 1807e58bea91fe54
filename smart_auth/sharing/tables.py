"""Shares: a patient lets one partner clinic read their record (acceptance point 13).

One ``share`` row per grant of a patient to a partner, identified by the partner's OAuth
``client_id`` (a backend-services client, SMART Backend Services). Withdrawing sets ``active``
false and ``withdrawn_at``; the row stays, so the Consent keeps its history (FHIR R4 Consent
``status`` inactive, ``provision.period.end``).

What the Consent covers is kept with it and checked on every request of the partner:
``period_start``/``period_end`` (``provision.period``, UTC, both inclusive; NULL: open),
``classes`` (``provision.class``: resource types, space-separated; NULL: every type) and
``resources`` (``provision.data`` instances, "Type/id" space-separated, with the files of the
listed documents; NULL: every resource of the covered types).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Text

from smart_auth.state import metadata

share = Table(
    "share",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("his_patient_id", Integer, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created", DateTime, nullable=False),
    Column("withdrawn_at", DateTime),
    #: the grant's subject that created it (``patient:<account>``), for the record
    Column("granted_by", String(128)),
    Column("period_start", DateTime),
    Column("period_end", DateTime),
    Column("classes", Text),
    Column("resources", Text),
)
Index("ix_share_client_active", share.c.client_id, share.c.active, share.c.his_patient_id)
Index("ix_share_patient", share.c.his_patient_id)
