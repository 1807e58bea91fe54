"""Patients' uploads (F17): the files they bring and the documents that describe them.

``upload_binary``: one uploaded file (a FHIR Binary). While its bytes arrive it is
``receiving`` and holds ``size`` bytes of the patient's quota (the length announced, or what is
left of the per-file limit) until ``lease_until``, which the receiving worker renews while
bytes keep coming; a worker that dies stops renewing, and once the lease runs out the
reservation no longer counts and the partial file is removed (``service.sweep``). Once the
whole file is stored it is ``stored`` with its real size and type.

``upload_document``: the DocumentReference a patient made for one stored file: the type they
picked, their description, who wrote it (``author_subject``: the grant's subject, the only one
who may change or delete it) and when the HIS was handed it (``his_handed_at``; NULL: still
to hand, retried).

``upload_account``: one row per patient who ever uploaded; every change of a patient's uploads
locks it first, so two uploads racing for the last bytes of a quota are decided one after the
other, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Table, Text

from smart_auth.state import metadata

upload_account = Table(
    "upload_account",
    metadata,
    Column("his_patient_id", Integer, primary_key=True, autoincrement=False),
    Column("touched_at", DateTime, nullable=False),
)

upload_binary = Table(
    "upload_binary",
    metadata,
    #: random hex; the Binary's id is ``upload-<id>`` and the stored file's key is the id
    Column("id", String(32), primary_key=True),
    Column("his_patient_id", Integer, nullable=False),
    #: the grant's subject of the uploader (``account:12``)
    Column("uploader", String(128), nullable=False),
    #: receiving | stored
    Column("state", String(12), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(100)),
    #: hex SHA-1 of the bytes (FHIR Attachment.hash is SHA-1)
    Column("sha1", String(40)),
    Column("created", DateTime, nullable=False),
    Column("lease_until", DateTime),
)
Index("ix_upload_binary_patient", upload_binary.c.his_patient_id, upload_binary.c.state)
Index("ix_upload_binary_lease", upload_binary.c.state, upload_binary.c.lease_until)

upload_document = Table(
    "upload_document",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("binary_id", String(32), nullable=False, unique=True),
    Column("his_patient_id", Integer, nullable=False),
    Column("author_subject", String(128), nullable=False),
    #: the author as a FHIR reference (``Patient/12``, ``RelatedPerson/guardian-3``)
    Column("author_reference", String(160), nullable=False),
    #: external-lab-result | other-clinic-letter | image | other
    Column("type_code", String(40), nullable=False),
    Column("title", String(255)),
    Column("description", Text),
    Column("created", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("his_handed_at", DateTime),
)
Index("ix_upload_document_patient", upload_document.c.his_patient_id, upload_document.c.created)
Index("ix_upload_document_handed", upload_document.c.his_handed_at)
