"""PractitionerRole from a HIS ``doctor`` row: http://hl7.org/fhir/R4/practitionerrole.html.

One role per doctor (same id as the Practitioner): a doctor (practitioner-role ``doctor``) of
one department, which is both the Organization and the Location of the role, with the doctor's
specialty (local code + SNOMED CT practice setting where ``codes.SPECIALTY_SNOMED`` knows it).
"""

from __future__ import annotations

from .codes import DOCTOR_ROLE
from .common import Json, MapContext, Record, meta
from .ids import reference, resource_id


def from_doctor(record: Record, ctx: MapContext) -> Json:
    """The PractitionerRole of one doctor row."""
    department_id = record["department_id"]
    return {
        "resourceType": "PractitionerRole",
        "id": resource_id("PractitionerRole", "doctor", record["id"]),
        "meta": meta(record),
        "active": record["active"],
        "practitioner": reference("Practitioner", record["id"]),
        "organization": reference("Organization", department_id),
        "code": DOCTOR_ROLE,
        "specialty": ctx.codes.specialty(record["specialty_code"], record["specialty_name"]),
        "location": [reference("Location", department_id)],
    }
