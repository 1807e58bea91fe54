"""The mapper case table: a HIS record variant and the key fields its resource must have.

``expect`` maps a path (``"identifier.0.value"``: keys and list indexes joined by dots) to the
value found there, or to ``ABSENT`` for an element that must not be present. Every case also
runs through the official R4 JSON schema and the R4B models (``test_conformance.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mappers import IdentifierSystems

from . import fixtures as f

SYS = IdentifierSystems()
LOCAL = SYS.local_codes
ABSENT = object()
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"


@dataclass(frozen=True)
class Case:
    name: str
    resource_type: str
    kind: str
    record: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)


def dig(resource: Any, path: str) -> Any:
    """The value at a dotted path, or ABSENT."""
    node = resource
    for step in path.split("."):
        if isinstance(node, list):
            index = int(step)
            if index >= len(node):
                return ABSENT
            node = node[index]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return ABSENT
    return node


PEOPLE = [
    Case(
        "patient-cnp",
        "Patient",
        "patient",
        f.patient(),
        {
            "id": "12",
            "meta.versionId": "3",
            "meta.lastUpdated": "2026-03-01T08:30:15Z",
            "identifier.0.system": SYS.cnp,
            "identifier.0.value": "1800101221144",
            "identifier.0.use": "official",
            "identifier.0.type.coding.0.code": "NI",
            "identifier.1.system": SYS.mrn,
            "identifier.1.type.coding.0.code": "MR",
            "active": True,
            "name.0.use": "official",
            "name.0.family": "Ionescu",
            "name.0.given": ["Andrei", "Mihai"],
            "gender": "male",
            "birthDate": "1980-01-01",
            "telecom.0": {"system": "phone", "value": "+40 722 000 111"},
            "telecom.1.system": "email",
            "address.0.country": "RO",
            "address.0.use": "home",
            "deceasedDateTime": ABSENT,
            "managingOrganization": ABSENT,
        },
    ),
    Case(
        "patient-pesel-sparse",
        "Patient",
        "patient",
        f.polish_patient(),
        {
            "identifier.0.system": SYS.pesel,
            "identifier.0.value": "44051401458",
            "gender": "female",
            "telecom": ABSENT,
            "address.0.line": ABSENT,
            "address.0.city": "Gliwice",
            "address.0.postalCode": "44-100",
        },
    ),
    Case(
        "patient-deceased-inactive",
        "Patient",
        "patient",
        f.patient(
            deceased_at=datetime(2026, 1, 2, 3, 4, 5),
            active=False,
            gender="U",
            phone=None,
            email=None,
            address_line=None,
            city=None,
            postal_code=None,
            country=None,
        ),
        {
            "deceasedDateTime": "2026-01-02T03:04:05Z",
            "active": False,
            "gender": "unknown",
            "telecom": ABSENT,
            "address": ABSENT,
        },
    ),
    Case(
        "practitioner",
        "Practitioner",
        "doctor",
        f.doctor(),
        {
            "id": "31",
            "identifier.0.system": SYS.doctor_stamp,
            "identifier.0.value": "A12345",
            "identifier.0.type.coding.0.code": "MD",
            "name.0.prefix": ["Dr."],
            "name.0.given": ["Ioana", "Maria"],
            "gender": "female",
            "telecom.0.use": "work",
            "qualification.0.code.coding.0.code": "394579002",
            "qualification.0.code.coding.1": {
                "system": f"{LOCAL}/specialty",
                "code": "cardiology",
                "display": "Cardiologie",
            },
        },
    ),
    Case(
        "practitioner-plain",
        "Practitioner",
        "doctor",
        f.doctor(
            prefix=None,
            phone=None,
            email=None,
            specialty_code="XYZ",
            specialty_name="Medicină de familie",
            active=False,
        ),
        {
            "name.0.prefix": ABSENT,
            "telecom": ABSENT,
            "active": False,
            "qualification.0.code.coding.0.system": f"{LOCAL}/specialty",
            "qualification.0.code.coding.1": ABSENT,
        },
    ),
    Case(
        "practitioner-role",
        "PractitionerRole",
        "doctor",
        f.doctor(),
        {
            "id": "31",
            "practitioner.reference": "Practitioner/31",
            "organization.reference": "Organization/7",
            "location.0.reference": "Location/7",
            "code.0.coding.0.code": "doctor",
            "specialty.0.coding.0.system": "http://snomed.info/sct",
            "specialty.0.text": "Cardiologie",
        },
    ),
    Case(
        "related-person-mother",
        "RelatedPerson",
        "guardian_link",
        f.guardian_link(),
        {
            "id": "3",
            "meta.versionId": "3.2",
            "patient.reference": "Patient/12",
            "relationship.0.coding.0.code": "MTH",
            "relationship.0.coding.0.system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
            "identifier.0.value": "2850505123459",
            "identifier.0.system": SYS.cnp,
            "name.0.family": "Ionescu",
            "gender": "female",
            "birthDate": "1985-05-05",
            "period": {"start": "2012-06-01", "end": "2030-06-01"},
            "active": True,
        },
    ),
    Case(
        "related-person-guardian-open",
        "RelatedPerson",
        "guardian_link",
        f.guardian_link(
            relationship="GUARD",
            valid_to=None,
            updated_at=datetime(2020, 1, 1),
            guardian=f.polish_patient(id=41),
        ),
        {
            "relationship.0.coding.0.code": "GUARD",
            "period": {"start": "2012-06-01"},
            "identifier.0.system": SYS.pesel,
            "meta.lastUpdated": "2026-03-01T08:30:15Z",
        },
    ),
]

ORGANISATION = [
    Case(
        "organization-hospital",
        "Organization",
        "department",
        f.hospital(),
        {
            "id": "1",
            "type.0.coding.0.code": "prov",
            "type.0.coding.1.code": "hospital",
            "partOf": ABSENT,
            "identifier.0.value": "SCJU",
            "telecom.0.use": "work",
        },
    ),
    Case(
        "organization-clinic",
        "Organization",
        "department",
        f.department(),
        {
            "type.0.coding.0.code": "dept",
            "partOf.reference": "Organization/1",
            "address.0.line": ["Str. Clinicilor 3-5"],
            "name": "Ambulatoriu Cardiologie",
        },
    ),
    Case(
        "location-hospital",
        "Location",
        "department",
        f.hospital(),
        {
            "mode": "instance",
            "type.0.coding.0.code": "HOSP",
            "physicalType.coding.0.code": "bu",
            "managingOrganization.reference": "Organization/1",
            "partOf": ABSENT,
            "address.city": "Cluj-Napoca",
        },
    ),
    Case(
        "location-functional-bare",
        "Location",
        "department",
        f.department(
            id=11,
            kind="functional",
            phone=None,
            address_line=None,
            city=None,
            postal_code=None,
            country=None,
        ),
        {
            "type.0.coding.0.system": f"{LOCAL}/department-kind",
            "type.0.coding.1": ABSENT,
            "physicalType.coding.0.code": "wi",
            "telecom": ABSENT,
            "address": ABSENT,
            "partOf.reference": "Location/1",
        },
    ),
    Case(
        "location-ward",
        "Location",
        "department",
        f.department(kind="ward"),
        {"type.0.coding.0.code": "HU", "physicalType.coding.0.code": "wa"},
    ),
    Case(
        "healthcare-service-video",
        "HealthcareService",
        "service",
        f.service(),
        {
            "identifier.0.system": SYS.service,
            "providedBy.reference": "Organization/7",
            "location.0.reference": "Location/7",
            "type.0.coding.0.code": "CONS-CARD",
            "specialty.0.coding.0.code": "394579002",
            "characteristic.0.coding.0.code": "telemedicine",
            "appointmentRequired": True,
        },
    ),
    Case(
        "healthcare-service-in-person",
        "HealthcareService",
        "service",
        f.service(telemedicine=False, active=False),
        {"characteristic": ABSENT, "active": False},
    ),
]

EPISODES = [
    Case(
        "encounter-admission",
        "Encounter",
        "episode",
        f.episode(),
        {
            "identifier.0.system": SYS.episode,
            "status": "finished",
            "class.code": "IMP",
            "type.0.coding.0": {
                "system": "http://snomed.info/sct",
                "code": "32485007",
                "display": "Hospital admission",
            },
            "type.0.coding.1.code": "HOSP",
            "subject.reference": "Patient/12",
            "participant.0.type.0.coding.0.code": "ATND",
            "participant.0.individual.reference": "Practitioner/31",
            "period": {"start": "2026-02-10T09:00:00Z", "end": "2026-02-14T12:30:00Z"},
            "reasonCode.0.text": "Dispnee de efort",
            "location.0.location.reference": "Location/7",
            "serviceProvider.reference": "Organization/7",
            "partOf": ABSENT,
        },
    ),
    Case(
        "encounter-consultation",
        "Encounter",
        "episode",
        f.episode(id=101, kind="CONS", parent_id=100, status="open", ended_at=None, reason=None),
        {
            "status": "in-progress",
            "class.code": "IMP",
            "type.0.coding.0.code": "11429006",
            "partOf.reference": "Encounter/100",
            "period.end": ABSENT,
            "reasonCode": ABSENT,
        },
    ),
    Case(
        "encounter-ambulatory-planned",
        "Encounter",
        "episode",
        f.episode(kind="AMB", status="planned", ended_at=None),
        {
            "status": "planned",
            "class.code": "AMB",
            "type.0.coding.0.code": "AMB",
            "type.0.coding.1": ABSENT,
            "type.0.text": "Ambulatory episode",
        },
    ),
    Case(
        "encounter-day-cancelled",
        "Encounter",
        "episode",
        f.episode(kind="DAY", status="cancelled"),
        {"status": "cancelled", "class.code": "SS", "class.display": "short stay"},
    ),
]
