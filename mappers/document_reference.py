"""DocumentReference from a HIS ``document`` row: http://hl7.org/fhir/R4/documentreference.html.

``type``: LOINC where one is right for every document of the HIS kind (discharge letter
18842-5, lab report 11502-2, imaging report 18748-4, prescription 57833-6, referral 57133-1)
plus the local kind; certificates, functional-test reports and "other" are local only.
``category`` is the local kind alone: it is what the portal filters on (F13). The file is
``Binary/<id>``; ``attachment.hash`` is the base64 of the SHA-1 bytes, as R4 requires.
"""

from __future__ import annotations

import base64

from .common import Json, MapContext, Record, identifier, instant, meta
from .ids import reference, resource_id


def from_document(record: Record, ctx: MapContext) -> Json:
    """The DocumentReference of one document row."""
    codes = ctx.codes
    kind, document_id = record["kind"], record["id"]
    created = instant(record["created_at"])
    resource: Json = {
        "resourceType": "DocumentReference",
        "id": resource_id("DocumentReference", "document", document_id),
        "meta": meta(record),
        "identifier": identifier(ctx.systems.document, record["number"]),
        "status": record["status"],
        "docStatus": "final",
        "type": codes.document_type[kind],
        "category": codes.document_category[kind],
        "subject": reference("Patient", record["patient_id"]),
        "date": created,
    }
    author_id = record.get("author_id")
    if author_id is not None:
        resource["author"] = [reference("Practitioner", author_id)]
    department_id = record.get("department_id")
    if department_id is not None:
        resource["custodian"] = reference("Organization", department_id)
    resource["description"] = record["title"]
    resource["content"] = [
        {
            "attachment": {
                "contentType": record["content_type"],
                "url": f"Binary/{resource_id('Binary', 'document_file', document_id)}",
                "size": record["size"],
                "hash": base64.b64encode(bytes.fromhex(record["sha1"])).decode("ascii"),
                "title": record["title"],
                "creation": created,
            }
        }
    ]
    episode_id = record.get("episode_id")
    if episode_id is not None:
        resource["context"] = {"encounter": [reference("Encounter", episode_id)]}
    return resource
