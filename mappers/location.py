"""Location from a HIS ``department`` row: http://hl7.org/fhir/R4/location.html.

Each department is also a place (mode ``instance``) managed by the department's Organization.
``type`` is the v3 RoleCode service delivery location where one fits (HOSP hospital, HU
hospital unit for wards, HLAB, HRAD, OF outpatient facility for clinics; none for functional
diagnostics) plus the HIS kind; ``physicalType`` is a building for the hospital, a ward for
wards and a wing for the other departments.
"""

from __future__ import annotations

from .common import Json, MapContext, Record, address, identifier, meta, telecom
from .ids import reference, resource_id


def from_department(record: Record, ctx: MapContext) -> Json:
    """The Location of one department row."""
    codes = ctx.codes
    department_id, kind = record["id"], record["kind"]
    resource: Json = {
        "resourceType": "Location",
        "id": resource_id("Location", "department", department_id),
        "meta": meta(record),
        "identifier": identifier(ctx.systems.department, record["code"]),
        "name": record["name"],
        "mode": "instance",
        "type": codes.location_type[kind],
    }
    points = telecom(record, "work")
    if points is not None:
        resource["telecom"] = points
    where = address(record, "work")
    if where is not None:
        resource["address"] = where[0]
    resource["physicalType"] = codes.physical_type[kind]
    resource["managingOrganization"] = reference("Organization", department_id)
    parent_id = record.get("parent_id")
    if parent_id is not None:
        resource["partOf"] = reference("Location", parent_id)
    return resource
