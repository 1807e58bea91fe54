"""ImagingStudy from a HIS ``imaging_order`` row: http://hl7.org/fhir/R4/imagingstudy.html.

Only performed orders have a study (``study_uid``); asking for one without it is an error.
Identifiers: the Study Instance UID as R4's identifier registry spells DICOM UIDs (system
``urn:dicom:uid``, value ``urn:oid:<uid>``) and the accession number (v2-0203 ACSN). The HIS
knows the study's counts but not its series: those come from the PACS (DICOMweb), so ``series``
is never invented here. ``body_part`` belongs to series (``series.bodySite``) in R4 and is left
out for the same reason; BIOPSY and INTERVENTION orders carry a local ``procedureCode``.
"""

from __future__ import annotations

from .codes import ACCESSION_TYPE, DICOM_UID, ORDER_STUDY_STATUS
from .common import Json, MapContext, Record, instant, meta, refuse
from .concepts import modality
from .ids import reference, resource_id


def from_imaging_order(record: Record, ctx: MapContext) -> Json:
    """The ImagingStudy of one performed imaging order."""
    study_uid = record.get("study_uid")
    if study_uid is None:
        raise refuse(
            "imaging_order",
            record,
            "study_uid: an imaging order without a study "
            "is not an ImagingStudy (the connector asks only for performed orders)",
        )
    resource: Json = {
        "resourceType": "ImagingStudy",
        "id": resource_id("ImagingStudy", "imaging_order", record["id"]),
        "meta": meta(record),
        "identifier": [
            {"system": DICOM_UID, "value": f"urn:oid:{study_uid}"},
            {
                "type": ACCESSION_TYPE,
                "system": ctx.systems.accession,
                "value": record["accession_number"],
            },
        ],
        "status": ORDER_STUDY_STATUS[record["status"]],
        "modality": [modality(record["modality"])],
        "subject": reference("Patient", record["patient_id"]),
    }
    episode_id = record.get("episode_id")
    if episode_id is not None:
        resource["encounter"] = reference("Encounter", episode_id)
    performed_at = record.get("performed_at")
    if performed_at is not None:
        resource["started"] = instant(performed_at)
    resource["referrer"] = reference("Practitioner", record["referrer_id"])
    radiologist_id = record.get("radiologist_id")
    if radiologist_id is not None:
        resource["interpreter"] = [reference("Practitioner", radiologist_id)]
    for column, element in (
        ("series_count", "numberOfSeries"),
        ("instance_count", "numberOfInstances"),
    ):
        if record.get(column) is not None:
            resource[element] = record[column]
    procedure = record.get("procedure")
    if procedure is not None:
        resource["procedureCode"] = ctx.codes.imaging_procedure[procedure]
    resource["location"] = reference("Location", record["department_id"])
    resource["description"] = record["description"]
    return resource


#: Gateway-defined extension: whether the images and the report of a study can be had (F14).
AVAILABILITY_URL = "https://fhir-gateway.example/StructureDefinition/imaging-availability"
ENDPOINT_ID = "dicomweb"
WADO_RS = {
    "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
    "code": "dicom-wado-rs",
}


def dicomweb_endpoint(base: str) -> Json:
    """The Endpoint of the gateway's DICOMweb (R4 endpoint.html; connectionType dicom-wado-rs)."""
    return {
        "resourceType": "Endpoint",
        "id": ENDPOINT_ID,
        "status": "active",
        "connectionType": WADO_RS,
        "payloadType": [{"text": "DICOM"}],
        "payloadMimeType": ["application/dicom", "application/dicom+json"],
        "address": base,
    }


def merge_pacs(resource: Json, record: Record, study: Record | None, dicomweb_base: str) -> Json:
    """``resource`` (from ``from_imaging_order``) completed with what the PACS holds.

    ``study``: the PACS's C-FIND answer for the study (``dicomweb.pacs_studies``), None when the
    PACS does not hold it. Adds the series (R4 ImagingStudy.series: uid, number, modality,
    description, numberOfInstances, bodySite), the PACS's counts and modalities, a contained
    Endpoint with the DICOMweb base, and the availability extension: ``images`` (the PACS holds
    the study), ``report`` (the HIS has the radiology report, ``reported_at``) and
    ``reportReference`` (the report's DiagnosticReport ``rad-<order id>``, its PDF as
    ``presentedForm``).
    """
    out: Json = dict(resource)
    reported = record.get("reported_at") is not None
    availability: list[Json] = [
        {"url": "images", "valueBoolean": study is not None},
        {"url": "report", "valueBoolean": reported},
    ]
    if reported:
        availability.append(
            {
                "url": "reportReference",
                "valueReference": reference("DiagnosticReport", record["id"], "imaging_order"),
            }
        )
    out["extension"] = [
        *out.get("extension", []),
        {"url": AVAILABILITY_URL, "extension": availability},
    ]
    if study is None:
        return out
    out["contained"] = [dicomweb_endpoint(dicomweb_base)]
    out["endpoint"] = [{"reference": f"#{ENDPOINT_ID}"}]
    modalities = [m for m in study.get("modalities") or () if m]
    if modalities:
        out["modality"] = [modality(m) for m in modalities]
    for key, element in (
        ("series_count", "numberOfSeries"),
        ("instance_count", "numberOfInstances"),
    ):
        if study.get(key) is not None:
            out[element] = int(study[key])
    if "started" not in out and study.get("started") is not None:
        out["started"] = instant(study["started"])
    if not out.get("description") and study.get("description"):
        out["description"] = study["description"]
    if study.get("referrer") and "display" not in out.get("referrer", {}):
        out["referrer"] = {**out.get("referrer", {}), "display": study["referrer"]}
    series = [_series(s) for s in study.get("series") or ()]
    if series:
        out["series"] = series
    return out


def _series(series: Record) -> Json:
    out: Json = {"uid": series["uid"]}
    if series.get("number") is not None:
        out["number"] = int(series["number"])
    out["modality"] = modality(series.get("modality") or "OT")
    if series.get("description"):
        out["description"] = series["description"]
    if series.get("instance_count") is not None:
        out["numberOfInstances"] = int(series["instance_count"])
    out["endpoint"] = [{"reference": f"#{ENDPOINT_ID}"}]
    if series.get("body_part"):
        out["bodySite"] = {"display": series["body_part"]}
    return out
