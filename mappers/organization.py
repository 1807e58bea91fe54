"""Organization from a HIS ``department`` row: http://hl7.org/fhir/R4/organization.html.

The HIS keeps the hospital and its departments in one table. The hospital (kind ``hospital``) is
a healthcare provider (organization-type ``prov``), every other row a hospital department
(``dept``) that is ``partOf`` its parent; the HIS kind travels as a local coding beside it.
"""

from __future__ import annotations

from .common import Json, MapContext, Record, address, identifier, meta, telecom
from .ids import reference, resource_id


def from_department(record: Record, ctx: MapContext) -> Json:
    """The Organization of one department row."""
    resource: Json = {
        "resourceType": "Organization",
        "id": resource_id("Organization", "department", record["id"]),
        "meta": meta(record),
        "identifier": identifier(ctx.systems.department, record["code"]),
        "type": ctx.codes.organization_type[record["kind"]],
        "name": record["name"],
    }
    points = telecom(record, "work")
    if points is not None:
        resource["telecom"] = points
    where = address(record, "work")
    if where is not None:
        resource["address"] = where
    parent_id = record.get("parent_id")
    if parent_id is not None:
        resource["partOf"] = reference("Organization", parent_id)
    return resource
