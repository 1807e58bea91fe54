"""Uploads as FHIR R4 resources: DocumentReference (documentreference.html) and Binary
(binary.html), from ``upload_document`` and ``upload_binary`` rows."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from . import detect
from .service import TYPES, Usage, fhir_id

#: The CodeSystems of the gateway's own codes, under the hospital's identifier base.
CATEGORY_PATH = "/CodeSystem/document-source"
TYPE_PATH = "/CodeSystem/patient-document-type"
#: The category that marks a document patient-supplied.
PATIENT_SUPPLIED = "patient-supplied"

#: File name extensions of the accepted types, for Content-Disposition.
EXTENSIONS = {
    detect.PDF: "pdf",
    detect.DOC: "doc",
    detect.DOCX: "docx",
    detect.PAGES: "pages",
    detect.JPEG: "jpg",
    detect.PNG: "png",
    detect.GIF: "gif",
    detect.HEIC: "heic",
    detect.DICOM: "dcm",
    detect.NIFTI: "nii",
    detect.NIFTI_GZ: "nii.gz",
    detect.MP4: "mp4",
    detect.AVI: "avi",
    detect.MOV: "mov",
}


def instant(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def category(base: str) -> dict[str, Any]:
    return {
        "coding": [
            {
                "system": base + CATEGORY_PATH,
                "code": PATIENT_SUPPLIED,
                "display": "Supplied by the patient",
            }
        ]
    }


def document_reference(row: Mapping[str, Any], base: str) -> dict[str, Any]:
    created = instant(row["created"])
    attachment: dict[str, Any] = {
        "contentType": row["content_type"],
        "url": f"Binary/{fhir_id(row['binary_id'])}",
        "size": int(row["size"]),
        "hash": base64.b64encode(bytes.fromhex(row["sha1"])).decode("ascii"),
        "creation": created,
    }
    if row["title"]:
        attachment["title"] = row["title"]
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": fhir_id(row["id"]),
        "meta": {"versionId": str(row["version"]), "lastUpdated": instant(row["updated"])},
        "status": "current",
        "docStatus": "final",
        "type": {
            "coding": [
                {
                    "system": base + TYPE_PATH,
                    "code": row["type_code"],
                    "display": TYPES[row["type_code"]],
                }
            ]
        },
        "category": [category(base)],
        "subject": {"reference": f"Patient/{row['his_patient_id']}"},
        "date": created,
        "author": [{"reference": row["author_reference"]}],
        "content": [{"attachment": attachment}],
    }
    if row["description"]:
        resource["description"] = row["description"]
    return resource


def binary_meta(row: Mapping[str, Any], document: str | None) -> dict[str, Any]:
    """The Binary without its data (what a create answers with)."""
    context = (
        f"DocumentReference/{fhir_id(document)}"
        if document is not None
        else f"Patient/{row['his_patient_id']}"
    )
    return {
        "resourceType": "Binary",
        "id": fhir_id(row["id"]),
        "meta": {"versionId": "1", "lastUpdated": instant(row["created"])},
        "contentType": row["content_type"],
        "securityContext": {"reference": context},
    }


def binary_json(
    meta: Mapping[str, Any], stream: BinaryIO, chunk: int = 3 * 256 * 1024
) -> Iterator[bytes]:
    """The Binary as FHIR JSON with its ``data``, base64 encoded a chunk at a time (a multiple
    of 3 bytes, so the pieces join into one base64 text): memory stays flat for any size."""
    import orjson

    head = orjson.dumps(dict(meta))
    yield head[:-1] + b',"data":"'
    with stream:
        while True:
            data = stream.read(chunk)
            if not data:
                break
            yield base64.b64encode(data)
    yield b'"}'


def usage_parameters(patient: int, usage: Usage) -> dict[str, Any]:
    """The upload usage as a Parameters resource (what ``$upload-usage`` answers)."""
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}},
            {"name": "used", "valueInteger": usage.used},
            {"name": "quota", "valueInteger": usage.quota},
            {"name": "left", "valueInteger": usage.left},
            {"name": "maxFileSize", "valueInteger": usage.max_file},
            {"name": "display", "valueString": usage.display()},
        ],
    }
