"""Practitioner from a HIS ``doctor`` row: http://hl7.org/fhir/R4/practitioner.html.

The doctor's stamp number (Romanian "cod parafă", Polish "numer PWZ") is the right to practise,
so it is an identifier of type v2-0203 ``MD`` (medical licence number). The specialty the
connector joins in (``specialty_name``) is the doctor's qualification; the same specialty is
the PractitionerRole's ``specialty``.
"""

from __future__ import annotations

from .codes import GENDER, LICENSE_TYPE
from .common import Json, MapContext, Record, identifier, meta, official_name, telecom
from .ids import resource_id


def from_doctor(record: Record, ctx: MapContext) -> Json:
    """The Practitioner of one doctor row."""
    resource: Json = {
        "resourceType": "Practitioner",
        "id": resource_id("Practitioner", "doctor", record["id"]),
        "meta": meta(record),
        "identifier": identifier(ctx.systems.doctor_stamp, record["code"], LICENSE_TYPE),
        "active": record["active"],
        "name": official_name(record["family"], record["given"], record.get("prefix")),
    }
    points = telecom(record, "work")
    if points is not None:
        resource["telecom"] = points
    resource["gender"] = GENDER[record["gender"]]
    specialty = ctx.codes.specialty(record["specialty_code"], record["specialty_name"])
    resource["qualification"] = [{"code": specialty[0]}]
    return resource
