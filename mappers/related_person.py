"""RelatedPerson from a HIS ``guardian_link`` row: http://hl7.org/fhir/R4/relatedperson.html.

The connector adds ``guardian``: the guardian's own patient row. The RelatedPerson is the
guardian *in the role of* the ward's mother, father or legal guardian (v3 RoleCode MTH, FTH,
GUARD), valid from ``valid_from`` to ``valid_to`` (``period``). Its identifier is the guardian's
national ID; ``active`` follows the guardian's patient record. Because the content comes from
two rows, ``meta.versionId`` is "<link version>.<guardian version>" and ``lastUpdated`` the later
of the two, so the ETag changes when either row does (when the connector passes the guardian's
audit columns; otherwise the link's own).
"""

from __future__ import annotations

from .codes import GUARDIAN_RELATIONSHIP
from .common import Json, MapContext, Record, composite_meta, national_identifier, period
from .ids import reference, resource_id
from .patient import demographics


def from_guardian_link(record: Record, ctx: MapContext) -> Json:
    """The RelatedPerson of one guardian link."""
    guardian = record["guardian"]
    return {
        "resourceType": "RelatedPerson",
        "id": resource_id("RelatedPerson", "guardian_link", record["id"]),
        "meta": composite_meta(record, guardian),
        "identifier": [national_identifier(guardian, ctx.systems)],
        "active": guardian["active"],
        "patient": reference("Patient", record["ward_id"]),
        "relationship": [GUARDIAN_RELATIONSHIP[record["relationship"]]],
        **demographics(guardian),
        "period": period(record["valid_from"], record.get("valid_to")),
    }
