"""FHIR ImagingStudy of a study holding two patients' series: each order's resource shows the
series of its own patient only, and counts and modalities made of them (``PacsStudies``)."""

from __future__ import annotations

from typing import Any, cast

from pydicom.dataset import Dataset

from dicomweb.pacs_studies import PacsStudies

STUDY = "1.2.826.0.1.3680043.8.498.10"


def _ds(**values: Any) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


class TwoPatients:
    """A PACS whose one study holds a CT series of MRN-A and a CR series of MRN-B; like a PACS
    that ignores PatientID at series level, it answers every series whatever is asked."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def find_studies(self, query: dict[str, Any], **kwargs: Any) -> list[Dataset]:
        return [
            _ds(
                StudyInstanceUID=STUDY,
                PatientID="MRN-A",
                ModalitiesInStudy=["CR", "CT"],
                NumberOfStudyRelatedSeries=2,
                NumberOfStudyRelatedInstances=5,
            )
        ]

    def find_series(self, study_uid: str, query: dict[str, Any], **kwargs: Any) -> list[Dataset]:
        self.asked.append(dict(query))
        return [
            _ds(
                SeriesInstanceUID="1.1",
                PatientID="MRN-A",
                Modality="CT",
                NumberOfSeriesRelatedInstances=2,
            ),
            _ds(
                SeriesInstanceUID="2.2",
                PatientID="MRN-B",
                Modality="CR",
                NumberOfSeriesRelatedInstances=3,
            ),
        ]


def enriched(patient: int) -> tuple[dict[str, Any], TwoPatients]:
    pacs = TwoPatients()
    mrns = {1: "MRN-A", 2: "MRN-B"}
    studies = PacsStudies(cast(Any, pacs), "http://g/dicomweb", mrns.get)
    resource: dict[str, Any] = {"resourceType": "ImagingStudy", "id": str(patient)}
    record = {"id": patient, "patient_id": patient, "study_uid": STUDY, "reported_at": None}
    studies.enrich([(record, resource)])
    return resource, pacs


def test_each_patient_sees_only_their_own_series_of_a_shared_study() -> None:
    for patient, own, modality, count in ((1, "1.1", "CT", 2), (2, "2.2", "CR", 3)):
        resource, pacs = enriched(patient)
        assert [s["uid"] for s in resource["series"]] == [own]
        assert resource["numberOfSeries"] == 1
        assert resource["numberOfInstances"] == count
        assert [m["code"] for m in resource["modality"]] == [modality]
        assert pacs.asked[0]["PatientID"] == {1: "MRN-A", 2: "MRN-B"}[patient]


def test_a_patient_the_pacs_does_not_know_sees_no_series() -> None:
    pacs = TwoPatients()
    studies = PacsStudies(cast(Any, pacs), "http://g/dicomweb", lambda patient: None)
    resource: dict[str, Any] = {"resourceType": "ImagingStudy", "id": "3"}
    record = {"id": 3, "patient_id": 3, "study_uid": STUDY, "reported_at": None}
    studies.enrich([(record, resource)])
    assert "series" not in resource
    assert resource["numberOfSeries"] == 0
