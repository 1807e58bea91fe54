"""The default HIS database: a hospital information system's own tables.

This is deliberately *not* a FHIR store. The tables are shaped the way Romanian and Polish
hospital systems keep their data (national IDs, numbered episodes of care, lab bulletins with
analytes, paraclinical tests, numbered documents with their files, imaging orders with accession
numbers, schedules and slots, questionnaires sent to patients, guardian links). The mappers turn
these rows into FHIR R4 resources; mapping is the product.

Conventions shared by every table:

* ``id`` is the HIS's own integer key; FHIR ids are derived from it (see ``mappers.ids``).
* timestamps are naive UTC (``DateTime`` without a zone, ``TIMESTAMP``); dates are ``Date``.
  MySQL and MariaDB keep microseconds only when asked (``DATETIME(6)``), so the column type says
  so there: keyset paging compares the exact values it handed out.
* every indexed string has a length (MySQL/MariaDB index only bounded strings); booleans are
  ``Boolean`` (``BOOLEAN``/``TINYINT(1)``), their defaults ``"1"``/``"0"`` valid everywhere.
* ``updated_at`` and ``version`` change whenever the HIS changes a row: they become
  ``meta.lastUpdated`` and ``meta.versionId`` (and so the ETag).
* enumerated columns hold the HIS's own codes; ``mappers.codes`` translates them.
* the tables whose changes patients are told about (bulletins, paraclinical tests, imaging
  orders, documents, questionnaire assignments, appointments) are indexed on
  ``(updated_at, id)``: the connector's change feed reads them in that order from a cursor.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.mysql import DATETIME

metadata = MetaData()

#: A naive UTC timestamp, to the microsecond on every database.
TIMESTAMP = DateTime().with_variant(DATETIME(fsp=6), "mysql", "mariadb")


def _audit_columns() -> list[Column]:
    return [
        Column("updated_at", TIMESTAMP, nullable=False),
        Column("version", Integer, nullable=False, server_default="1"),
    ]


# --- Organisation -------------------------------------------------------------------------------

department = Table(
    "department",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    # hospital | clinic | ward | laboratory | imaging | functional
    Column("kind", String(16), nullable=False),
    Column("parent_id", Integer, ForeignKey("department.id")),
    Column("phone", String(32)),
    Column("address_line", String(200)),
    Column("city", String(100)),
    Column("postal_code", String(16)),
    Column("country", String(2)),
    *_audit_columns(),
)

specialty = Table(
    "specialty",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
)

doctor = Table(
    "doctor",
    metadata,
    Column("id", Integer, primary_key=True),
    # the doctor's stamp number ("parafa" in Romania, "numer PWZ" in Poland)
    Column("code", String(32), nullable=False, unique=True),
    Column("family", String(100), nullable=False),
    Column("given", String(100), nullable=False),
    Column("prefix", String(20)),
    Column("gender", String(1), nullable=False),  # M | F | U
    Column("specialty_code", String(32), ForeignKey("specialty.code"), nullable=False),
    Column("department_id", Integer, ForeignKey("department.id"), nullable=False),
    Column("phone", String(32)),
    Column("email", String(200)),
    Column("active", Boolean, nullable=False, server_default="1"),
    *_audit_columns(),
)

service = Table(
    "service",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("specialty_code", String(32), ForeignKey("specialty.code"), nullable=False),
    Column("department_id", Integer, ForeignKey("department.id"), nullable=False),
    Column("telemedicine", Boolean, nullable=False, server_default="0"),
    Column("duration_min", Integer, nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    *_audit_columns(),
)

# --- Patients -----------------------------------------------------------------------------------

patient = Table(
    "patient",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mrn", String(32), nullable=False, unique=True),
    Column("national_id", String(20), nullable=False),
    Column("national_id_kind", String(8), nullable=False),  # CNP | PESEL
    Column("family", String(100), nullable=False),
    Column("given", String(100), nullable=False),
    Column("gender", String(1), nullable=False),  # M | F | U
    Column("birth_date", Date, nullable=False),
    Column("phone", String(32)),
    Column("email", String(200)),
    Column("address_line", String(200)),
    Column("city", String(100)),
    Column("postal_code", String(16)),
    Column("country", String(2)),
    Column("deceased_at", TIMESTAMP),
    Column("active", Boolean, nullable=False, server_default="1"),
    *_audit_columns(),
)
Index("ix_patient_national_id", patient.c.national_id, unique=True)
Index("ix_patient_family", patient.c.family)

guardian_link = Table(
    "guardian_link",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guardian_id", Integer, ForeignKey("patient.id"), nullable=False),
    Column("ward_id", Integer, ForeignKey("patient.id"), nullable=False),
    Column("relationship", String(16), nullable=False),  # MTH | FTH | GUARD
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),
    *_audit_columns(),
)
Index("ix_guardian_link_ward", guardian_link.c.ward_id)
Index("ix_guardian_link_guardian", guardian_link.c.guardian_id)

# --- Episodes of care ---------------------------------------------------------------------------

episode = Table(
    "episode",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    # AMB ambulatory episode | DAY day hospitalisation | HOSP continuous admission
    # CONS consultation during an admission (parent_id is the admission)
    Column("kind", String(8), nullable=False),
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False),
    Column("parent_id", Integer, ForeignKey("episode.id")),
    Column("doctor_id", Integer, ForeignKey("doctor.id"), nullable=False),
    Column("department_id", Integer, ForeignKey("department.id"), nullable=False),
    Column("started_at", TIMESTAMP, nullable=False),
    Column("ended_at", TIMESTAMP),
    # planned | open | closed | cancelled
    Column("status", String(12), nullable=False),
    Column("reason", String(300)),
    *_audit_columns(),
)
Index("ix_episode_patient_started", episode.c.patient_id, episode.c.started_at, episode.c.id)

# --- Laboratory ---------------------------------------------------------------------------------

lab_bulletin = Table(
    "lab_bulletin",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),  # e.g. LR_291429
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False),
    Column("episode_id", Integer, ForeignKey("episode.id")),
    Column("requester_id", Integer, ForeignKey("doctor.id"), nullable=False),
    Column("department_id", Integer, ForeignKey("department.id"), nullable=False),
    Column("collected_at", TIMESTAMP, nullable=False),
    Column("validated_at", TIMESTAMP),
    Column("validator_id", Integer, ForeignKey("doctor.id")),
    # registered | partial | validated | cancelled
    Column("status", String(12), nullable=False),
    # the 6-digit code the HIS sends by SMS/e-mail when the bulletin is validated (F9)
    Column("access_code", String(6)),
    Column("document_id", Integer, ForeignKey("document.id")),
    *_audit_columns(),
)
Index("ix_lab_bulletin_patient_collected", lab_bulletin.c.patient_id, lab_bulletin.c.collected_at)
Index("ix_lab_bulletin_changed", lab_bulletin.c.updated_at, lab_bulletin.c.id)

lab_result = Table(
    "lab_result",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("bulletin_id", Integer, ForeignKey("lab_bulletin.id"), nullable=False),
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False),
    Column("analyte_code", String(32), nullable=False),  # the laboratory's own code
    Column("analyte_name", String(200), nullable=False),
    Column("value_num", Float),
    Column("value_text", String(200)),
    Column("unit", String(32)),  # UCUM where the laboratory uses it
    Column("ref_low", Float),
    Column("ref_high", Float),
    Column("ref_text", String(200)),
    Column("flag", String(2)),  # N | L | H | LL | HH | A
    Column("status", String(12), nullable=False),  # preliminary | final | corrected | cancelled
    Column("observed_at", TIMESTAMP, nullable=False),
    *_audit_columns(),
)
Index(
    "ix_lab_result_patient_observed",
    lab_result.c.patient_id,
    lab_result.c.observed_at,
    lab_result.c.id,
)
Index("ix_lab_result_bulletin", lab_result.c.bulletin_id)

# --- Paraclinical (functional) tests: ECG, EEG, spirometry, audiometry, ... ------------------

paraclinical_test = Table(
    "paraclinical_test",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),  # ECG | EEG | SPIRO | AUDIO | EMG | ECHO | HOLTER
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False),
    Column("episode_id", Integer, ForeignKey("episode.id")),
    Column("doctor_id", Integer, ForeignKey("doctor.id"), nullable=False),
    Column("department_id", Integer, ForeignKey("department.id"), nullable=False),
    Column("performed_at", TIMESTAMP, nullable=False),
    Column("status", String(12), nullable=False),  # registered | validated | cancelled
    Column("conclusion", Text),
    Column("document_id", Integer, ForeignKey("document.id")),
    *_audit_columns(),
)
Index(
    "ix_paraclinical_patient_performed",
    paraclinical_test.c.patient_id,
    paraclinical_test.c.performed_at,
)
Index("ix_paraclinical_changed", paraclinical_test.c.updated_at, paraclinical_test.c.id)

# --- Documents and their files -------------------------------------------------------------------

document = Table(
    "document",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(40), nullable=False, unique=True),  # e.g. DS_CU_42270000278035
    # DISCHARGE | LAB_REPORT | PARACLINICAL | IMAGING_REPORT | PRESCRIPTION | CERTIFICATE
    # | REFERRAL | OTHER
    Column("kind", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False),
    Column("episode_id", Integer, ForeignKey("episode.id")),
    Column("author_id", Integer, ForeignKey("doctor.id")),
    Column("department_id", Integer, ForeignKey("department.id")),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("status", String(16), nullable=False),  # current | superseded | entered-in-error
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha1", String(40), nullable=False),  # hex digest of the file
    *_audit_columns(),
)
Index("ix_document_patient_created", document.c.patient_id, document.c.created_at, document.c.id)
Index("ix_document_changed", document.c.updated_at, document.c.id)

document_file = Table(
    "document_file",
    metadata,
    Column("document_id", Integer, ForeignKey("document.id"), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

#: Documents patients (or their guardians) uploaded through the gateway (F17), handed to the
#: HIS so the care team sees them. One row per upload, keyed by the gateway's upload id (a
#: hand-off retried after a crash finds its row and changes nothing). The bytes stay in the
#: gateway's upload store: ``content_url`` is the Binary's address, ``sha1`` its digest.
#: Deleting the upload sets ``withdrawn_at``; the row stays for the record.
incoming_document = Table(
    "incoming_document",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("upload_id", String(64), nullable=False, unique=True),
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False),
    # external-lab-result | other-clinic-letter | image | other (the patient's choice)
    Column("type_code", String(40), nullable=False),
    Column("title", String(255)),
    Column("description", Text),
    # the author as a FHIR reference: Patient/12 or RelatedPerson/guardian-3
    Column("author_reference", String(160), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha1", String(40), nullable=False),
    Column("content_url", String(255), nullable=False),
    Column("received_at", TIMESTAMP, nullable=False),
    Column("withdrawn_at", TIMESTAMP),
    *_audit_columns(),
)
Index(
    "ix_incoming_document_patient", incoming_document.c.patient_id, incoming_document.c.received_at
)

# --- Imaging ------------------------------------------------------------------------------------

imaging_order = Table(
    "imaging_order",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("accession_number", String(16), nullable=False, unique=True),
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False),
    Column("episode_id", Integer, ForeignKey("episode.id")),
    Column("referrer_id", Integer, ForeignKey("doctor.id"), nullable=False),
    Column("department_id", Integer, ForeignKey("department.id"), nullable=False),
    Column("modality", String(4), nullable=False),  # DICOM modality: CT MR CR DX MG US XA ...
    Column("body_part", String(32)),  # DICOM Body Part Examined, e.g. CHEST
    Column("procedure", String(16)),  # BIOPSY | INTERVENTION | null for plain imaging
    Column("description", String(200), nullable=False),
    Column("ordered_at", TIMESTAMP, nullable=False),
    Column("performed_at", TIMESTAMP),
    Column("study_uid", String(64)),  # DICOM Study Instance UID once performed
    Column("series_count", Integer),
    Column("instance_count", Integer),
    # ordered | scheduled | performed | reported | cancelled
    Column("status", String(12), nullable=False),
    Column("radiologist_id", Integer, ForeignKey("doctor.id")),
    Column("report_text", Text),
    Column("report_conclusion", Text),
    Column("reported_at", TIMESTAMP),
    Column("report_document_id", Integer, ForeignKey("document.id")),
    *_audit_columns(),
)
Index("ix_imaging_order_patient_ordered", imaging_order.c.patient_id, imaging_order.c.ordered_at)
Index("ix_imaging_order_study_uid", imaging_order.c.study_uid)
Index("ix_imaging_order_changed", imaging_order.c.updated_at, imaging_order.c.id)
# the orders still waiting for their images, which the PACS is polled for
Index("ix_imaging_order_status", imaging_order.c.status, imaging_order.c.id)

# --- Scheduling ---------------------------------------------------------------------------------

schedule = Table(
    "schedule",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("doctor_id", Integer, ForeignKey("doctor.id"), nullable=False),
    Column("service_id", Integer, ForeignKey("service.id"), nullable=False),
    Column("department_id", Integer, ForeignKey("department.id"), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    *_audit_columns(),
)

slot = Table(
    "slot",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("schedule_id", Integer, ForeignKey("schedule.id"), nullable=False),
    Column("start_at", TIMESTAMP, nullable=False),
    Column("end_at", TIMESTAMP, nullable=False),
    Column("status", String(16), nullable=False),  # free | busy | blocked
    Column("telemedicine", Boolean, nullable=False, server_default="0"),
    *_audit_columns(),
)
Index("ix_slot_schedule_start", slot.c.schedule_id, slot.c.start_at)
Index("ix_slot_start", slot.c.start_at, slot.c.id)

appointment = Table(
    "appointment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False),
    Column("slot_id", Integer, ForeignKey("slot.id")),
    Column("service_id", Integer, ForeignKey("service.id"), nullable=False),
    Column("doctor_id", Integer, ForeignKey("doctor.id"), nullable=False),
    Column("department_id", Integer, ForeignKey("department.id"), nullable=False),
    Column("start_at", TIMESTAMP, nullable=False),
    Column("end_at", TIMESTAMP, nullable=False),
    # requested | booked | arrived | done | cancelled | no-show
    Column("status", String(12), nullable=False),
    Column("telemedicine", Boolean, nullable=False, server_default="0"),
    Column("video_url", String(300)),
    Column("comment", String(500)),
    Column("booked_at", TIMESTAMP, nullable=False),
    # the slot this appointment occupies while it is requested, booked or under way; NULL once
    # it is cancelled (or never had one). Unique: one slot is never held by two appointments,
    # whoever writes the booking (the gateway's ``$book`` or the hospital's own desk).
    Column("held_slot_id", Integer, ForeignKey("slot.id"), unique=True),
    *_audit_columns(),
)
Index("ix_appointment_patient_start", appointment.c.patient_id, appointment.c.start_at)
Index("ix_appointment_changed", appointment.c.updated_at, appointment.c.id)
Index("ix_appointment_start", appointment.c.start_at, appointment.c.id)

# --- Questionnaires -----------------------------------------------------------------------------

questionnaire = Table(
    "questionnaire",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("version_label", String(16), nullable=False),
    Column("status", String(12), nullable=False),  # draft | active | retired
    Column("description", Text),
    # list of items: {"link_id", "text", "type", "required", "options": [...]} (see mappers)
    Column("items", JSON, nullable=False),
    Column("published_at", TIMESTAMP, nullable=False),
    *_audit_columns(),
)

questionnaire_assignment = Table(
    "questionnaire_assignment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("questionnaire_id", Integer, ForeignKey("questionnaire.id"), nullable=False),
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False),
    Column("sent_at", TIMESTAMP, nullable=False),
    Column("status", String(12), nullable=False),  # sent | in-progress | submitted
    Column("submitted_at", TIMESTAMP),
    # answers by link_id: {"q1": "yes", "q2": 3, ...}
    Column("answers", JSON),
    *_audit_columns(),
)
Index("ix_questionnaire_assignment_patient", questionnaire_assignment.c.patient_id)
# new assignments are found in the order the HIS sent them (``HisConnector.assignments_after``)
Index(
    "ix_questionnaire_assignment_sent",
    questionnaire_assignment.c.sent_at,
    questionnaire_assignment.c.id,
)
# the change feed (``HisConnector.changes``) reads assignments in the order they changed
Index(
    "ix_questionnaire_assignment_changed",
    questionnaire_assignment.c.updated_at,
    questionnaire_assignment.c.id,
)

# MySQL and MariaDB compare strings under the column's collation, case- and accent-insensitive
# by default ("glu" = "GLU", "serban" = "Șerban"). The HIS tables are created there with a
# binary Unicode collation, so that ``=`` and ``LIKE`` mean what they mean on SQLite and
# PostgreSQL (exact tokens, ``:exact`` names; ``lower()`` folds case for string searches).
for _table in metadata.tables.values():
    _table.dialect_kwargs.update(mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")
