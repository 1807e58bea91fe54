"""Patient from a HIS ``patient`` row: http://hl7.org/fhir/R4/patient.html.

Identifiers: the national ID (CNP or PESEL by ``national_id_kind``; v2-0203 ``NI``, use
official) and the hospital's MRN (``MR``, use usual). ``managingOrganization`` is left out: the
hospital is not known at this level.
"""

from __future__ import annotations

from .codes import GENDER
from .common import (
    Json,
    MapContext,
    Record,
    address,
    instant,
    meta,
    mrn_identifier,
    national_identifier,
    official_name,
    telecom,
)
from .ids import resource_id


def demographics(person: Record) -> Json:
    """name, telecom, gender, birthDate and address of a patient row (shared with RelatedPerson)."""
    out: Json = {"name": official_name(person["family"], person["given"])}
    points = telecom(person)
    if points is not None:
        out["telecom"] = points
    out["gender"] = GENDER[person["gender"]]
    out["birthDate"] = person["birth_date"].isoformat()
    home = address(person, "home")
    if home is not None:
        out["address"] = home
    return out


def from_patient(record: Record, ctx: MapContext) -> Json:
    """The Patient resource of one patient row."""
    systems = ctx.systems
    resource: Json = {
        "resourceType": "Patient",
        "id": resource_id("Patient", "patient", record["id"]),
        "meta": meta(record),
        "identifier": [national_identifier(record, systems), mrn_identifier(record, systems)],
        "active": record["active"],
        **demographics(record),
    }
    deceased = record.get("deceased_at")
    if deceased is not None:
        resource["deceasedDateTime"] = instant(deceased)
    return resource
