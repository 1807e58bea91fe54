"""DiagnosticReport from three HIS tables: http://hl7.org/fhir/R4/diagnosticreport.html.

* ``lab-<id>`` from ``lab_bulletin`` ("buletin de analize"): category v2-0074 LAB, code LOINC
  11502-2 "Laboratory report", ``result`` = the bulletin's lab results (``result_ids``, added by
  the connector), issued when validated, interpreted by the validating doctor. The 6-digit
  ``access_code`` is never mapped.
* ``para-<id>`` from ``paraclinical_test`` (ECG, EEG, spirometry, ...): category by kind
  (ECG/HOLTER EC, EEG/EMG EN, SPIRO PF, AUDIO AU, ECHO CUS), code LOINC where one fits the whole
  kind (ECG 11524-6, EEG 11523-8) plus the local kind, the doctor's ``conclusion``.
* ``rad-<id>`` from ``imaging_order``, only once reported (``reported_at``): category RAD, code
  LOINC 18748-4 "Diagnostic imaging study" plus a local per-modality code, identified by the
  accession number (v2-0203 ACSN), linked to its ImagingStudy when the study exists.

Every report's file is a ``presentedForm`` pointing at ``Binary/<document id>``; the radiology
report's text, when the HIS has it, is a second, inline ``text/plain`` form.
"""

from __future__ import annotations

import base64
from datetime import datetime

from .codes import (
    ACCESSION_TYPE,
    BULLETIN_STATUS,
    IMAGING_REPORT_STATUS,
    IMAGING_REPORT_STATUS_OTHERWISE,
    LAB_REPORT_CODE,
    PARACLINICAL_KINDS,
    PARACLINICAL_STATUS,
    SECTION_LAB,
    SECTION_RAD,
)
from .common import (
    Json,
    MapContext,
    Record,
    binary_form,
    identifier,
    instant,
    meta,
    refuse,
)
from .ids import reference, resource_id


def _report(
    record_kind: str,
    record: Record,
    identifiers: list[Json],
    status: str,
    category: list[Json],
    code: Json,
    effective: datetime | None,
) -> Json:
    """The elements every report has, in FHIR order up to ``effective[x]``."""
    resource: Json = {
        "resourceType": "DiagnosticReport",
        "id": resource_id("DiagnosticReport", record_kind, record["id"]),
        "meta": meta(record),
        "identifier": identifiers,
        "status": status,
        "category": category,
        "code": code,
        "subject": reference("Patient", record["patient_id"]),
    }
    episode_id = record.get("episode_id")
    if episode_id is not None:
        resource["encounter"] = reference("Encounter", episode_id)
    if effective is not None:
        resource["effectiveDateTime"] = instant(effective)
    return resource


def _interpreter(resource: Json, doctor_id: int | None) -> None:
    if doctor_id is not None:
        resource["resultsInterpreter"] = [reference("Practitioner", doctor_id)]


def from_lab_bulletin(record: Record, ctx: MapContext) -> Json:
    """The DiagnosticReport ``lab-<id>`` of one lab bulletin."""
    number = record["number"]
    resource = _report(
        "lab_bulletin",
        record,
        identifier(ctx.systems.lab_bulletin, number),
        BULLETIN_STATUS[record["status"]],
        SECTION_LAB,
        LAB_REPORT_CODE,
        record["collected_at"],
    )
    validated_at = record.get("validated_at")
    if validated_at is not None:
        resource["issued"] = instant(validated_at)
    resource["performer"] = [reference("Organization", record["department_id"])]
    _interpreter(resource, record.get("validator_id"))
    if record["result_ids"]:
        resource["result"] = [
            reference("Observation", result_id) for result_id in record["result_ids"]
        ]
    form = binary_form(record.get("document_id"), f"Laboratory report {number}")
    if form is not None:
        resource["presentedForm"] = form
    return resource


def from_paraclinical_test(record: Record, ctx: MapContext) -> Json:
    """The DiagnosticReport ``para-<id>`` of one paraclinical test."""
    number, kind = record["number"], record["kind"]
    display, section, _loinc = PARACLINICAL_KINDS[kind]
    resource = _report(
        "paraclinical_test",
        record,
        identifier(ctx.systems.paraclinical, number),
        PARACLINICAL_STATUS[record["status"]],
        [section],
        ctx.codes.paraclinical_code[kind],
        record["performed_at"],
    )
    resource["performer"] = [reference("Organization", record["department_id"])]
    _interpreter(resource, record["doctor_id"])
    conclusion = record.get("conclusion")
    if conclusion is not None:
        resource["conclusion"] = conclusion
    form = binary_form(record.get("document_id"), f"{display} {number}")
    if form is not None:
        resource["presentedForm"] = form
    return resource


def from_imaging_order(record: Record, ctx: MapContext) -> Json:
    """The DiagnosticReport ``rad-<id>`` of one reported imaging order."""
    reported_at = record.get("reported_at")
    if reported_at is None:
        raise refuse(
            "imaging_order",
            record,
            "reported_at: an imaging order without a report "
            "is not a DiagnosticReport (the connector asks only for reported orders)",
        )
    accession = record["accession_number"]
    resource = _report(
        "imaging_order",
        record,
        identifier(ctx.systems.accession, accession, ACCESSION_TYPE),
        IMAGING_REPORT_STATUS.get(record["status"], IMAGING_REPORT_STATUS_OTHERWISE),
        SECTION_RAD,
        ctx.codes.imaging_report(record["modality"]),
        record.get("performed_at"),
    )
    resource["issued"] = instant(reported_at)
    resource["performer"] = [reference("Organization", record["department_id"])]
    _interpreter(resource, record.get("radiologist_id"))
    if record.get("study_uid") is not None:
        resource["imagingStudy"] = [reference("ImagingStudy", record["id"])]
    conclusion = record.get("report_conclusion")
    if conclusion is not None:
        resource["conclusion"] = conclusion
    forms = binary_form(record.get("report_document_id"), f"Imaging report {accession}") or []
    report_text = record.get("report_text")
    if report_text is not None:
        forms.append(
            {
                "contentType": "text/plain; charset=utf-8",
                "title": "Report text",
                "data": base64.b64encode(report_text.encode()).decode("ascii"),
            }
        )
    if forms:
        resource["presentedForm"] = forms
    return resource
