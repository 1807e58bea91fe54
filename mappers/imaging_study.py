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
        raise refuse("imaging_order", record, "study_uid: an imaging order without a study "
                     "is not an ImagingStudy (the connector asks only for performed orders)")
    resource: Json = {
        "resourceType": "ImagingStudy",
        "id": resource_id("ImagingStudy", "imaging_order", record["id"]),
        "meta": meta(record),
        "identifier": [
            {"system": DICOM_UID, "value": f"urn:oid:{study_uid}"},
            {"type": ACCESSION_TYPE, "system": ctx.systems.accession,
             "value": record["accession_number"]},
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
    for column, element in (("series_count", "numberOfSeries"),
                            ("instance_count", "numberOfInstances")):
        if record.get(column) is not None:
            resource[element] = record[column]
    procedure = record.get("procedure")
    if procedure is not None:
        resource["procedureCode"] = ctx.codes.imaging_procedure[procedure]
    resource["location"] = reference("Location", record["department_id"])
    resource["description"] = record["description"]
    return resource
