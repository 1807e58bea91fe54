"""HIS record schemas: one marshmallow schema per record kind, and their compiled checks.

A record kind is a HIS table (``fhir_gateway.his.schema``); a record is one row as a mapping,
plus the few values the connector adds to it (``specialty_name``, ``result_ids``, the guardian's
own row, ...), declared here too. Field types, the strictness rules and why every schema also
has a compiled check are explained in ``mappers.validation``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from .codes import ENABLE_OPERATORS, QUESTIONNAIRE_ITEM_TYPES
from .validation import (
    AnswerOption,
    Bytes,
    JsonObject,
    ListOf,
    Scalar,
    col,
    compile_check,
    field_errors,
)

# --- Record schemas -----------------------------------------------------------------------------


class JsonRecord(Schema):
    """Base: unknown keys are ignored (the connector may select more than a mapper reads)."""

    class Meta:
        unknown = EXCLUDE


class HisRecord(JsonRecord):
    """Base of table rows: the audit columns every table has."""

    id = col.key()
    updated_at = col.timestamp()
    version = col.count(nullable=False, minimum=1)


class _Address:
    address_line = col.text(200, nullable=True)
    city = col.text(100, nullable=True)
    postal_code = col.text(16, nullable=True)
    country = col.pattern(r"[A-Z]{2}\Z", nullable=True)


class DepartmentRecord(HisRecord, _Address):
    code = col.text(32)
    name = col.text(200)
    kind = col.choice("hospital", "clinic", "ward", "laboratory", "imaging", "functional")
    parent_id = col.key(nullable=True)
    phone = col.text(32, nullable=True)


class _Specialty:
    specialty_code = col.token(32)
    specialty_name = col.text(200)


class DoctorRecord(HisRecord, _Specialty):
    code = col.text(32)
    family = col.text(100)
    given = col.text(100)
    prefix = col.text(20, nullable=True)
    gender = col.choice("M", "F", "U")
    department_id = col.key()
    phone = col.text(32, nullable=True)
    email = col.text(200, nullable=True)
    active = col.boolean()


class ServiceRecord(HisRecord, _Specialty):
    code = col.token(32)
    name = col.text(200)
    department_id = col.key()
    telemedicine = col.boolean()
    duration_min = col.count(nullable=False, minimum=1)
    active = col.boolean()


class PatientRecord(HisRecord, _Address):
    mrn = col.text(32)
    national_id = col.text(20)
    national_id_kind = col.choice("CNP", "PESEL")
    family = col.text(100)
    given = col.text(100)
    gender = col.choice("M", "F", "U")
    birth_date = col.day()
    phone = col.text(32, nullable=True)
    email = col.text(200, nullable=True)
    deceased_at = col.timestamp(nullable=True)
    active = col.boolean()


class GuardianRecord(PatientRecord):
    """The guardian's patient row as nested in a guardian link; its audit columns are optional
    (with them, the RelatedPerson's version also follows changes to the guardian's row)."""

    updated_at = col.timestamp(nullable=True)
    version = col.count(nullable=True, minimum=1)


class GuardianLinkRecord(HisRecord):
    guardian_id = col.key()
    ward_id = col.key()
    relationship = col.choice("MTH", "FTH", "GUARD")
    valid_from = col.day()
    valid_to = col.day(nullable=True)
    guardian = fields.Nested(GuardianRecord, required=True, allow_none=False)


class EpisodeRecord(HisRecord):
    number = col.text(32)
    kind = col.choice("AMB", "DAY", "HOSP", "CONS")
    patient_id = col.key()
    parent_id = col.key(nullable=True)
    doctor_id = col.key()
    department_id = col.key()
    started_at = col.timestamp()
    ended_at = col.timestamp(nullable=True)
    status = col.choice("planned", "open", "closed", "cancelled")
    reason = col.text(300, nullable=True)


class LabBulletinRecord(HisRecord):
    """``access_code`` is deliberately absent: it is a secret and never leaves the gateway."""

    number = col.text(32)
    patient_id = col.key()
    episode_id = col.key(nullable=True)
    requester_id = col.key()
    department_id = col.key()
    collected_at = col.timestamp()
    validated_at = col.timestamp(nullable=True)
    validator_id = col.key(nullable=True)
    status = col.choice("registered", "partial", "validated", "cancelled")
    document_id = col.key(nullable=True)
    result_ids = ListOf(col.key(), required=True, allow_none=False)


class LabResultRecord(HisRecord):
    bulletin_id = col.key()
    patient_id = col.key()
    analyte_code = col.token(32)
    analyte_name = col.text(200)
    value_num = col.number()
    value_text = col.text(200, nullable=True)
    unit = col.text(32, nullable=True)
    ref_low = col.number()
    ref_high = col.number()
    ref_text = col.text(200, nullable=True)
    flag = col.choice("N", "L", "H", "LL", "HH", "A", nullable=True)
    status = col.choice("preliminary", "final", "corrected", "cancelled")
    observed_at = col.timestamp()


class ParaclinicalTestRecord(HisRecord):
    number = col.text(32)
    kind = col.choice("ECG", "EEG", "SPIRO", "AUDIO", "EMG", "ECHO", "HOLTER")
    patient_id = col.key()
    episode_id = col.key(nullable=True)
    doctor_id = col.key()
    department_id = col.key()
    performed_at = col.timestamp()
    status = col.choice("registered", "validated", "cancelled")
    conclusion = col.text(nullable=True)
    document_id = col.key(nullable=True)


class DocumentRecord(HisRecord):
    number = col.text(40)
    kind = col.choice(
        "DISCHARGE",
        "LAB_REPORT",
        "PARACLINICAL",
        "IMAGING_REPORT",
        "PRESCRIPTION",
        "CERTIFICATE",
        "REFERRAL",
        "OTHER",
    )
    title = col.text(200)
    patient_id = col.key()
    episode_id = col.key(nullable=True)
    author_id = col.key(nullable=True)
    department_id = col.key(nullable=True)
    created_at = col.timestamp()
    status = col.choice("current", "superseded", "entered-in-error")
    content_type = col.token(100)
    size = col.count(nullable=False)
    sha1 = col.pattern(r"[0-9a-fA-F]{40}\Z")


class DocumentFileRecord(DocumentRecord):
    """A document row plus its file (``document_file.content``)."""

    content = col.of(Bytes)


class ImagingOrderRecord(HisRecord):
    accession_number = col.text(16)
    patient_id = col.key()
    episode_id = col.key(nullable=True)
    referrer_id = col.key()
    department_id = col.key()
    modality = col.pattern(r"[A-Z0-9_]{1,16}\Z")  # DICOM CS value
    body_part = col.token(32, nullable=True)
    procedure = col.choice("BIOPSY", "INTERVENTION", nullable=True)
    description = col.text(200)
    ordered_at = col.timestamp()
    performed_at = col.timestamp(nullable=True)
    study_uid = col.pattern(r"[0-2](\.(0|[1-9][0-9]*))+\Z", nullable=True, max_len=64)
    series_count = col.count()
    instance_count = col.count()
    status = col.choice("ordered", "scheduled", "performed", "reported", "cancelled")
    radiologist_id = col.key(nullable=True)
    report_text = col.text(nullable=True)
    report_conclusion = col.text(nullable=True)
    reported_at = col.timestamp(nullable=True)
    report_document_id = col.key(nullable=True)


class _Service(_Specialty):
    service_code = col.token(32)
    service_name = col.text(200)


class ScheduleRecord(HisRecord, _Service):
    doctor_id = col.key()
    service_id = col.key()
    department_id = col.key()
    valid_from = col.day()
    valid_to = col.day()
    active = col.boolean()


class SlotRecord(HisRecord, _Service):
    schedule_id = col.key()
    start_at = col.timestamp()
    end_at = col.timestamp()
    status = col.choice("free", "busy", "blocked")
    telemedicine = col.boolean()
    service_id = col.key()
    doctor_id = col.key()
    department_id = col.key()


class AppointmentRecord(HisRecord, _Service):
    patient_id = col.key()
    slot_id = col.key(nullable=True)
    service_id = col.key()
    doctor_id = col.key()
    department_id = col.key()
    start_at = col.timestamp()
    end_at = col.timestamp()
    status = col.choice("requested", "booked", "arrived", "done", "cancelled", "no-show")
    telemedicine = col.boolean()
    video_url = col.pattern(r"https?://\S+\Z", nullable=True, max_len=300)
    comment = col.text(500, nullable=True)
    booked_at = col.timestamp()


class EnableWhen(JsonRecord):
    """One condition of ``questionnaire.items[].enable_when``: the item is shown when the
    answer to ``question`` (an earlier link id) compares with ``answer`` by ``operator``
    (``exists`` takes a boolean; a ``choice`` question compares option codes)."""

    question = col.machine_name(64)
    operator = col.choice(*ENABLE_OPERATORS)
    answer = col.of(Scalar)


class QuestionnaireItem(JsonRecord):
    """One entry of ``questionnaire.items`` (a JSON list kept by the HIS).

    ``type`` is a FHIR item type (``codes.QUESTIONNAIRE_ITEM_TYPES``); ``options`` (for
    ``choice`` items) are codes, or ``{"code", "display"}`` objects; ``required`` and
    ``repeats`` default to false; ``max_length`` limits text answers; ``enable_when`` lists the
    conditions that show the item (all of them, or any with ``enable_behavior`` "any").
    Groups are not supported: the HIS keeps flat lists.
    """

    link_id = col.machine_name(64)
    text = col.text(1000)
    type = col.choice(*QUESTIONNAIRE_ITEM_TYPES)
    required = col.boolean(nullable=True)
    repeats = col.boolean(nullable=True)
    options = ListOf(col.of(AnswerOption), required=False, allow_none=True)
    max_length = col.count(nullable=True, minimum=1)
    enable_when = ListOf(
        fields.Nested(EnableWhen, required=True, allow_none=False),
        required=False,
        allow_none=True,
    )
    enable_behavior = col.choice("all", "any", nullable=True)


class QuestionnaireRecord(HisRecord):
    code = col.machine_name(32)
    title = col.text(200)
    version_label = col.machine_name(16)
    status = col.choice("draft", "active", "retired")
    description = col.text(nullable=True)
    items = ListOf(
        fields.Nested(QuestionnaireItem, required=True, allow_none=False),
        required=True,
        allow_none=False,
    )
    published_at = col.timestamp()


class QuestionnaireAssignmentRecord(HisRecord):
    """Answers are checked against the questionnaire's items by the mapper, not here."""

    questionnaire_id = col.key()
    patient_id = col.key()
    sent_at = col.timestamp()
    status = col.choice("sent", "in-progress", "submitted")
    submitted_at = col.timestamp(nullable=True)
    answers = col.of(JsonObject, nullable=True)
    questionnaire = fields.Nested(QuestionnaireRecord, required=True, allow_none=False)


#: record kind -> schema instance.
SCHEMAS: dict[str, Schema] = {
    "department": DepartmentRecord(),
    "doctor": DoctorRecord(),
    "service": ServiceRecord(),
    "patient": PatientRecord(),
    "guardian_link": GuardianLinkRecord(),
    "episode": EpisodeRecord(),
    "lab_bulletin": LabBulletinRecord(),
    "lab_result": LabResultRecord(),
    "paraclinical_test": ParaclinicalTestRecord(),
    "document": DocumentRecord(),
    "document_file": DocumentFileRecord(),
    "imaging_order": ImagingOrderRecord(),
    "schedule": ScheduleRecord(),
    "slot": SlotRecord(),
    "appointment": AppointmentRecord(),
    "questionnaire": QuestionnaireRecord(),
    "questionnaire_assignment": QuestionnaireAssignmentRecord(),
}


#: record kind -> compiled check.
CHECKS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    kind: compile_check(schema) for kind, schema in SCHEMAS.items()
}


def is_valid(record_kind: str, record: Any) -> bool:
    """The fast check; False for anything that is not a mapping."""
    try:
        return CHECKS[record_kind](record)
    except (AttributeError, TypeError):
        return False


def problems(record_kind: str, record: Any) -> list[str]:
    """Why a record is invalid: marshmallow's field errors, as ``"path: reason"`` strings."""
    found = field_errors(SCHEMAS[record_kind], record)
    if not found and not is_valid(record_kind, record):
        found = ["record: rejected by the compiled check"]  # a divergence: tests guard it
    return found
