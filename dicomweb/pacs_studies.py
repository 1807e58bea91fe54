"""The PACS side of FHIR ImagingStudy (issue F14), free of any web framework.

For one page of HIS imaging orders, ``PacsStudies.gather`` asks the PACS what it holds: one
study-level C-FIND for every study UID of the page (a UID list, PS3.4 §C.2.2.2.2) and a
series-level C-FIND per study found (PS3.4 §C.6.2.1), and turns the answers into plain records
that the pure mapper ``mappers.imaging_study.merge_pacs`` merges into the HIS's ImagingStudy.
``enrich`` is the hook ``FhirService`` calls with each page of (HIS record, resource) pairs.

The study UIDs come from HIS records the access policy already narrowed; a PACS failure leaves
the page as the HIS made it (logged without patient data), it never fails the FHIR request.
A study may hold another patient's series (a modality filing two patients under one worklist
entry): the series listed, and the counts and modalities made of them, are only those carrying
the PatientID of the order's patient (asked as a matching key and checked again on each row).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    "PatientID": "",
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


def _only_patients(record: dict[str, Any], series: list[Dataset]) -> dict[str, Any]:
    """``record`` whose study-level counts and modalities are made of its ``series`` alone:
    those of the study include the series of another patient filed under it."""
    counts = [_int(s.get("NumberOfSeriesRelatedInstances")) for s in series]
    modalities = {str(s.get("Modality", "") or "") for s in series} - {""}
    return {
        **record,
        "series_count": len(series),
        "instance_count": sum(c for c in counts if c is not None) if None not in counts else None,
        "modalities": [m for m in record["modalities"] if m in modalities]
        + sorted(modalities - set(record["modalities"])),
    }


class PacsStudies:
    """What the PACS holds of the studies of HIS imaging orders.

    ``patient_id_of``: the DICOM PatientID of a HIS patient (``DicomwebContext``); when given,
    each order's study shows only the series of the order's patient.
    """

    def __init__(
        self,
        backend: PacsBackend,
        dicomweb_base: str,
        patient_id_of: Callable[[int], str | None] | None = None,
    ) -> None:
        self.backend = backend
        self.dicomweb_base = dicomweb_base
        self.patient_id_of = patient_id_of

    def gather(
        self, study_uids: Sequence[str], patient_id: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """study UID -> record, for the UIDs the PACS holds (two C-FIND levels); with
        ``patient_id``, the series (and counts) of that DICOM patient only."""
        uids = sorted({u for u in study_uids if u})
        if not uids:
            return {}
        studies = self.backend.find_studies({"StudyInstanceUID": uids, **STUDY_KEYS})
        out: dict[str, dict[str, Any]] = {}
        for ds in studies:
            uid = str(ds.get("StudyInstanceUID", ""))
            if uid not in uids or uid in out:
                continue  # a PACS may answer rows that do not match: checked again
            if patient_id is None:
                out[uid] = study_record(ds, self.backend.find_series(uid, SERIES_KEYS))
                continue
            keys = {**SERIES_KEYS, "PatientID": patient_id}
            found = list(self.backend.find_series(uid, keys)) if patient_id else []
            series = [s for s in found if str(s.get("PatientID", "") or "") == patient_id]
            record = study_record(ds, series)
            out[uid] = (
                record if len(series) == len(found) and found else _only_patients(record, series)
            )
        return out

    def enrich(self, pairs: Sequence[tuple[Mapping[str, Any], dict[str, Any]]]) -> None:
        """Merge the PACS's answers into a page of mapped ImagingStudy resources, in place."""
        wanted: dict[str | None, list[str]] = {}
        keys: list[str | None] = []
        known: dict[Any, str | None] = {}
        try:
            for record, _ in pairs:
                his_patient = record.get("patient_id")
                if his_patient not in known:
                    known[his_patient] = self._patient_id(record)
                patient = known[his_patient]
                keys.append(patient)
                if record.get("study_uid"):
                    wanted.setdefault(patient, []).append(str(record["study_uid"]))
            held = {patient: self.gather(uids, patient) for patient, uids in wanted.items()}
        except Exception as exc:  # the PACS is optional to the FHIR API: keep the HIS's view
            log.warning("PACS unavailable for ImagingStudy (%s)", type(exc).__name__)
            return
        for (record, resource), patient in zip(pairs, keys, strict=True):
            study = held.get(patient, {}).get(str(record.get("study_uid")))
            merged = merge_pacs(resource, record, study, self.dicomweb_base)
            resource.clear()
            resource.update(merged)

    def _patient_id(self, record: Mapping[str, Any]) -> str | None:
        """The DICOM PatientID of the order's patient ("" when it has none: no series shown);
        None when series are not narrowed to a patient."""
        if self.patient_id_of is None:
            return None
        his_patient = record.get("patient_id")
        found = self.patient_id_of(int(his_patient)) if his_patient is not None else None
        return found or ""
