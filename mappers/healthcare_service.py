"""HealthcareService from a HIS ``service`` row: http://hl7.org/fhir/R4/healthcareservice.html.

A bookable service of a department (``providedBy``, ``location``): its type is the HIS service
(local code), its specialty the HIS specialty (local + SNOMED CT where known). R4 has no element
for "offered by video", so a telemedicine service carries a ``characteristic`` with the local
code ``telemedicine`` (system ``{local_codes}/service-characteristic``), the element R4 defines
for "collection of characteristics (attributes)"; its slots and appointments then say
``appointmentType`` VR/VIDEO (see ``mappers.slot``). Services are booked through the portal:
``appointmentRequired`` is true. The HIS has no opening hours per service (they live in
schedules), so there is no ``availableTime``.
"""

from __future__ import annotations

from .common import Json, MapContext, Record, identifier, meta
from .ids import reference, resource_id


def from_service(record: Record, ctx: MapContext) -> Json:
    """The HealthcareService of one service row."""
    codes = ctx.codes
    department_id = record["department_id"]
    resource: Json = {
        "resourceType": "HealthcareService",
        "id": resource_id("HealthcareService", "service", record["id"]),
        "meta": meta(record),
        "identifier": identifier(ctx.systems.service, record["code"]),
        "active": record["active"],
        "providedBy": reference("Organization", department_id),
        "type": codes.service(record["code"], record["name"]),
        "specialty": codes.specialty(record["specialty_code"], record["specialty_name"]),
        "location": [reference("Location", department_id)],
        "name": record["name"],
    }
    if record["telemedicine"]:
        resource["characteristic"] = codes.telemedicine
    resource["appointmentRequired"] = True
    return resource
