"""Binary from a HIS document and its file: http://hl7.org/fhir/R4/binary.html.

The record is the ``document`` row plus ``content`` (``document_file.content``). The Binary has
the document's id, its content type, the bytes in base64 and, as ``securityContext``, the
patient: access to the file is access to that patient's data (binary.html#security).
"""

from __future__ import annotations

import base64

from .common import Json, MapContext, Record, meta
from .ids import reference, resource_id


def from_document_file(record: Record, ctx: MapContext) -> Json:
    """The Binary of one document's file."""
    return {
        "resourceType": "Binary",
        "id": resource_id("Binary", "document_file", record["id"]),
        "meta": meta(record),
        "contentType": record["content_type"],
        "securityContext": reference("Patient", record["patient_id"]),
        "data": base64.b64encode(record["content"]).decode("ascii"),
    }
