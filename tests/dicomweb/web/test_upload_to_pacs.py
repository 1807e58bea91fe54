"""A patient's uploaded DICOM file (F17) goes to the PACS the way STOW-RS stores: into their
own PatientID, refused (never rewritten) when it names somebody else, and then appears in
their imaging."""

from __future__ import annotations

import io
from typing import Any

from pydicom import dcmread

from tests.dicomweb.web.conftest import HisPacs
from tests.uploads import samples

WRITE = "patient/*.rs patient/Binary.c patient/DocumentReference.cud"


def _usage(client: Any, patient: int) -> int:
    answer = client.get(f"/fhir/Patient/{patient}/$upload-usage").get_json()
    return int(next(p["valueInteger"] for p in answer["parameter"] if p["name"] == "used"))


def test_an_uploaded_dicom_file_appears_in_the_patients_imaging(
    his_pacs: HisPacs, client_for: Any
) -> None:
    patient, mrn = next(iter(his_pacs.studies.values()))
    client = client_for({patient}, scopes=WRITE)
    data = samples.dicom(mrn)
    study = str(dcmread(io.BytesIO(data)).StudyInstanceUID)
    made = client.post("/fhir/Binary", data=data, headers={"Content-Type": "application/dicom"})
    assert made.status_code == 201, made.get_data(as_text=True)
    found = client.get(f"/dicomweb/studies?StudyInstanceUID={study}")
    assert found.status_code == 200, found.get_data(as_text=True)
    assert [s["0020000D"]["Value"][0] for s in found.get_json()] == [study]
    kept = client.get(f"/fhir/Binary/{made.get_json()['id']}")
    assert kept.status_code == 200
    assert kept.get_data() == data


def test_a_dicom_file_of_somebody_else_is_refused_and_nothing_is_kept(
    his_pacs: HisPacs, client_for: Any, dw_client: Any
) -> None:
    patient, _ = next(iter(his_pacs.studies.values()))
    client = client_for({patient}, scopes=WRITE)
    before = _usage(client, patient)
    data = samples.dicom("SOMEBODY-ELSE")
    study = str(dcmread(io.BytesIO(data)).StudyInstanceUID)
    refused = client.post("/fhir/Binary", data=data, headers={"Content-Type": "application/dicom"})
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert "PatientID is not the uploader's" in refused.get_json()["issue"][0]["diagnostics"]
    assert _usage(client, patient) == before
    # development open access sees every study the PACS holds: not this one
    found = dw_client.get(f"/dicomweb/studies?StudyInstanceUID={study}")
    assert found.status_code in (200, 204)
    assert not found.get_data() or found.get_json() == []
