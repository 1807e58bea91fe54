"""HIS records -> FHIR R4 resources: the gateway's mapping layer.

Pure functions (ARCHITECTURE boundary 2): a HIS record (a mapping of column values as
SQLAlchemy returns them, plus the few values the connector adds) goes in, a FHIR R4 resource as
a JSON-ready dict comes out. No Flask, no database, no I/O, no pydantic on the hot path.

Use ``map_record``: it checks the record against its schema (``mappers.records``, a compiled
check of a few µs; marshmallow's detailed errors only for bad rows) and raises ``InvalidRecord``
for a bad HIS row instead of returning a broken resource. ``MAPPERS[...].to_fhir`` skips that
check and is only for records already known to be valid.

**Outputs are read-only.** Constant parts (CodeableConcepts, categories, identifier types) are
built once and shared by every resource; copy an output before changing it.

One module per resource type; code tables in ``mappers.codes``; ids in ``mappers.ids``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from marshmallow import Schema

from . import (
    appointment,
    binary,
    diagnostic_report,
    document_reference,
    encounter,
    healthcare_service,
    imaging_study,
    location,
    observation,
    organization,
    patient,
    practitioner,
    practitioner_role,
    questionnaire,
    questionnaire_response,
    related_person,
    schedule,
    slot,
)
from .common import IdentifierSystems, InvalidRecord, MapContext, record_id
from .records import CHECKS, SCHEMAS, problems

__all__ = [
    "MAPPERS",
    "IdentifierSystems",
    "InvalidRecord",
    "MapContext",
    "RecordMapper",
    "map_record",
]

ToFhir = Callable[[Mapping[str, Any], MapContext], dict[str, Any]]


class RecordMapper(NamedTuple):
    """How one record kind becomes one resource type."""

    resource_type: str
    record_kind: str
    schema: Schema
    to_fhir: ToFhir


_TABLE: tuple[tuple[str, str, ToFhir], ...] = (
    ("Patient", "patient", patient.from_patient),
    ("Practitioner", "doctor", practitioner.from_doctor),
    ("PractitionerRole", "doctor", practitioner_role.from_doctor),
    ("Organization", "department", organization.from_department),
    ("Location", "department", location.from_department),
    ("HealthcareService", "service", healthcare_service.from_service),
    ("RelatedPerson", "guardian_link", related_person.from_guardian_link),
    ("Encounter", "episode", encounter.from_episode),
    ("Observation", "lab_result", observation.from_lab_result),
    ("DiagnosticReport", "lab_bulletin", diagnostic_report.from_lab_bulletin),
    ("DiagnosticReport", "paraclinical_test", diagnostic_report.from_paraclinical_test),
    ("DiagnosticReport", "imaging_order", diagnostic_report.from_imaging_order),
    ("ImagingStudy", "imaging_order", imaging_study.from_imaging_order),
    ("DocumentReference", "document", document_reference.from_document),
    ("Binary", "document_file", binary.from_document_file),
    ("Schedule", "schedule", schedule.from_schedule),
    ("Slot", "slot", slot.from_slot),
    ("Appointment", "appointment", appointment.from_appointment),
    ("Questionnaire", "questionnaire", questionnaire.from_questionnaire),
    (
        "QuestionnaireResponse",
        "questionnaire_assignment",
        questionnaire_response.from_questionnaire_assignment,
    ),
)

#: (resource type, record kind) -> its mapper.
MAPPERS: dict[tuple[str, str], RecordMapper] = {
    (rtype, kind): RecordMapper(rtype, kind, SCHEMAS[kind], to_fhir)
    for rtype, kind, to_fhir in _TABLE
}
_DISPATCH = {pair: (CHECKS[m.record_kind], m.to_fhir) for pair, m in MAPPERS.items()}


def map_record(
    resource_type: str, record_kind: str, record: Mapping[str, Any], ctx: MapContext
) -> dict[str, Any]:
    """Validate a HIS record (fast path) and map it to a FHIR resource.

    Raises KeyError for a (type, kind) pair no mapper handles (a programming error) and
    InvalidRecord for a bad HIS row; ``problems`` name fields and reasons, never values.
    """
    try:
        is_valid, to_fhir = _DISPATCH[(resource_type, record_kind)]
    except KeyError:
        raise KeyError(f"no mapper makes {resource_type} from {record_kind} records") from None
    try:
        valid = is_valid(record)
    except (AttributeError, TypeError):  # not a mapping at all
        valid = False
    if not valid:
        raise InvalidRecord(record_kind, record_id(record), problems(record_kind, record))
    try:
        return to_fhir(record, ctx)
    except InvalidRecord:
        raise
    except (LookupError, TypeError, ValueError, AttributeError) as exc:
        # A gap between the schema and a mapper: still a bad row, reported without values.
        raise InvalidRecord(
            record_kind, record_id(record), [f"record: cannot be mapped ({type(exc).__name__})"]
        ) from None
