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

#: Shares with a person outside (F21): the recipient's address (and mobile, for the PIN by
#: SMS), the Argon2id hash of the PIN, the SHA-256 digest of the link's unguessable id (the link
#: carries that id and nothing else), the time limit and what is shared: ``resources`` ("Type/id"
#: space-separated, with the files of the listed documents and reports; NULL: the whole record)
#: and ``studies`` (the Study Instance UIDs of the listed ImagingStudy resources). ``locked_at``:
#: the PIN was got wrong too often; ``last_used_at``: the last time the PIN opened it.
outside_share = Table(
    "outside_share",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("his_patient_id", Integer, nullable=False),
    Column("link_hash", String(64), nullable=False, unique=True),
    Column("pin_hash", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("phone", String(32)),
    Column("language", String(8), nullable=False),
    Column("comment", Text),
    Column("resources", Text),
    Column("studies", Text),
    Column("created", DateTime, nullable=False),
    Column("period_start", DateTime, nullable=False),
    Column("period_end", DateTime, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("withdrawn_at", DateTime),
    Column("locked_at", DateTime),
    Column("last_used_at", DateTime),
    #: who made it (the grant's subject) and where to tell them the share locked
    Column("granted_by", String(128)),
    Column("owner_email", String(254)),
    Column("owner_language", String(8)),
)
Index("ix_outside_share_patient", outside_share.c.his_patient_id)

#: The short-lived tokens a right PIN mints; only the SHA-256 digest of each is kept.
outside_share_token = Table(
    "outside_share_token",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("share_id", Integer, nullable=False),
    Column("expires_at", DateTime, nullable=False),
)
Index("ix_outside_share_token_expires", outside_share_token.c.expires_at)
