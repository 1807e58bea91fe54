"""The Patient compartment as the gateway serves it
(http://hl7.org/fhir/R4/compartmentdefinition-patient.html)."""

from __future__ import annotations

#: Resource types of the Patient compartment the gateway serves, in $everything order.
PATIENT_COMPARTMENT: tuple[str, ...] = (
    "Patient",
    "RelatedPerson",
    "Encounter",
    "Observation",
    "DiagnosticReport",
    "DocumentReference",
    "ImagingStudy",
    "Appointment",
    "QuestionnaireResponse",
)

#: Types whose resources belong to patients: a patient grant narrows them to its compartments.
#: Binary belongs to the patient of the document it is the content of; Consent and AuditEvent
#: (served from the gateway's own state) to the patient they are about.
COMPARTMENT_TYPES = frozenset({*PATIENT_COMPARTMENT, "Binary", "Consent", "AuditEvent"})
