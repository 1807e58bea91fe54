"""The PACS side of FHIR ImagingStudy (issue F14), free of any web framework.

For one page of HIS imaging orders, ``PacsStudies.gather`` asks the PACS what it holds: one
study-level C-FIND for every study UID of the page (a UID list, PS3.4 §C.2.2.2.2) and a
series-level C-FIND per study found (PS3.4 §C.6.2.1), and turns the answers into plain records
that the pure mapper ``mappers.imaging_study.merge_pacs`` merges into the HIS's ImagingStudy.
``enrich`` is the hook ``FhirService`` calls with each page of (HIS record, resource) pairs.

The study UIDs come from HIS records the access policy already narrowed; a PACS failure leaves
the page as the HIS made it (logged without patient data), it never fails the FHIR request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset

from dicomweb.backends.base import PacsBackend
from mappers.imaging_study import merge_pacs

log = logging.getLogger(__name__)

STUDY_KEYS = {
    "StudyDate": "",
    "StudyTime": "",
    "AccessionNumber": "",
    "ModalitiesInStudy": "",
    "NumberOfStudyRelatedSeries": "",
    "NumberOfStudyRelatedInstances": "",
    "StudyDescription": "",
    "ReferringPhysicianName": "",
    "PatientID": "",
}
SERIES_KEYS = {
    "Modality": "",
    "SeriesNumber": "",
    "SeriesDescription": "",
    "BodyPartExamined": "",
    "NumberOfSeriesRelatedInstances": "",
}


def _int(value: Any) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _started(ds: Dataset) -> datetime | None:
    """StudyDate + StudyTime (DA, TM: PS3.5 §6.2) as a naive datetime, None if absent/bad."""
    date = str(ds.get("StudyDate", "") or "")
    time = str(ds.get("StudyTime", "") or "").split(".")[0].ljust(6, "0")[:6]
    if len(date) != 8:
        return None
    try:
        return datetime.strptime(date + time, "%Y%m%d%H%M%S")
    except ValueError:
        return None


def _values(element: Any) -> list[str]:
    if element is None or element == "":
        return []
    if isinstance(element, str):
        return [v for v in element.split("\\") if v]
    try:
        return [str(v) for v in element if str(v)]
    except TypeError:
        return [str(element)]


def study_record(study: Dataset, series: Iterable[Dataset]) -> dict[str, Any]:
    """The plain record ``merge_pacs`` reads, from study- and series-level C-FIND answers."""
    referrer = str(study.get("ReferringPhysicianName", "") or "")
    return {
        "study_uid": str(study.StudyInstanceUID),
        "patient_id": str(study.get("PatientID", "") or ""),
        "accession_number": str(study.get("AccessionNumber", "") or "") or None,
        "modalities": _values(study.get("ModalitiesInStudy")),
        "series_count": _int(study.get("NumberOfStudyRelatedSeries")),
        "instance_count": _int(study.get("NumberOfStudyRelatedInstances")),
        "description": str(study.get("StudyDescription", "") or "") or None,
        "referrer": " ".join(p for p in referrer.replace("^", " ").split() if p) or None,
        "started": _started(study),
        "series": [
            {
                "uid": str(s.SeriesInstanceUID),
                "number": _int(s.get("SeriesNumber")),
                "modality": str(s.get("Modality", "") or "") or None,
                "description": str(s.get("SeriesDescription", "") or "") or None,
                "body_part": str(s.get("BodyPartExamined", "") or "") or None,
                "instance_count": _int(s.get("NumberOfSeriesRelatedInstances")),
            }
            for s in series
        ],
    }


class PacsStudies:
    """What the PACS holds of the studies of HIS imaging orders."""

    def __init__(self, backend: PacsBackend, dicomweb_base: str) -> None:
        self.backend = backend
        self.dicomweb_base = dicomweb_base

    def gather(self, study_uids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """study UID -> record, for the UIDs the PACS holds (two C-FIND levels)."""
        uids = sorted({u for u in study_uids if u})
        if not uids:
            return {}
        studies = self.backend.find_studies({"StudyInstanceUID": uids, **STUDY_KEYS})
        out: dict[str, dict[str, Any]] = {}
        for ds in studies:
            uid = str(ds.get("StudyInstanceUID", ""))
            if uid not in uids or uid in out:
                continue  # a PACS may answer rows that do not match: checked again
            out[uid] = study_record(ds, self.backend.find_series(uid, SERIES_KEYS))
        return out

    def enrich(self, pairs: Sequence[tuple[Mapping[str, Any], dict[str, Any]]]) -> None:
        """Merge the PACS's answers into a page of mapped ImagingStudy resources, in place."""
        wanted = [str(r["study_uid"]) for r, _ in pairs if r.get("study_uid")]
        try:
            held = self.gather(wanted)
        except Exception as exc:  # the PACS is optional to the FHIR API: keep the HIS's view
            log.warning("PACS unavailable for ImagingStudy (%s)", type(exc).__name__)
            return
        for record, resource in pairs:
            merged = merge_pacs(
                resource, record, held.get(str(record.get("study_uid"))), self.dicomweb_base
            )
            resource.clear()
            resource.update(merged)
