"""A patient's uploaded DICOM file (F17) goes to the PACS the way STOW-RS stores: into their
own PatientID (a file brought from another hospital is filed under it, the PatientID it carried
kept in Other Patient IDs), never into a study held for another patient, and then appears in
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


def test_a_file_from_another_hospital_is_filed_under_the_uploaders_patient_id(
    his_pacs: HisPacs, client_for: Any
) -> None:
    patient, mrn = next(iter(his_pacs.studies.values()))
    client = client_for({patient}, scopes=WRITE)
    before = _usage(client, patient)
    data = samples.dicom("OTHER-HOSPITAL-123")
    study = str(dcmread(io.BytesIO(data)).StudyInstanceUID)
    made = client.post("/fhir/Binary", data=data, headers={"Content-Type": "application/dicom"})
    assert made.status_code == 201, made.get_data(as_text=True)
    assert _usage(client, patient) > before
    found = client.get(f"/dicomweb/studies?StudyInstanceUID={study}&includefield=00100020")
    assert found.status_code == 200, found.get_data(as_text=True)
    (shown,) = found.get_json()
    assert shown["00100020"]["Value"] == [mrn]
    metadata = client.get(f"/dicomweb/studies/{study}/metadata")
    assert metadata.status_code == 200, metadata.get_data(as_text=True)
    (instance,) = metadata.get_json()
    others = instance["00101002"]["Value"]
    assert [o["00100020"]["Value"][0] for o in others] == ["OTHER-HOSPITAL-123"]
    # the patient's own Binary keeps the file exactly as it was brought
    assert client.get(f"/fhir/Binary/{made.get_json()['id']}").get_data() == data


def test_a_file_naming_another_patients_study_is_refused_and_nothing_is_kept(
    his_pacs: HisPacs, client_for: Any, dw_client: Any
) -> None:
    """Filing a brought file under the uploader's PatientID never merges it into a study the
    PACS holds for somebody else: the study UID decides, as for STOW-RS."""
    patient, mrn = next(iter(his_pacs.studies.values()))
    theirs = next(uid for uid, (pid, _) in his_pacs.studies.items() if pid != patient)
    client = client_for({patient}, scopes=WRITE)
    before = _usage(client, patient)
    ds = dcmread(io.BytesIO(samples.dicom(mrn)))
    ds.StudyInstanceUID = theirs
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    refused = client.post(
        "/fhir/Binary", data=out.getvalue(), headers={"Content-Type": "application/dicom"}
    )
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert _usage(client, patient) == before
    # development open access sees every instance the PACS holds: not this one
    found = dw_client.get(
        f"/dicomweb/studies/{theirs}/instances?SOPInstanceUID={ds.SOPInstanceUID}"
    )
    assert found.status_code in (200, 204)
    assert not found.get_data() or found.get_json() == []
