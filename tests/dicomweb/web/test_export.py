"""Study export as a ZIP with a DICOMDIR (PS3.10 §8), against the real Orthanc."""

from __future__ import annotations

import io

import pytest
import pyzipper
from pydicom import dcmread

from dicomweb.backends.dimse import DimseBackend


def stored_files(his_pacs, study_uid: str) -> dict[str, bytes]:
    """SOP Instance UID -> dataset bytes as the PACS holds them (via C-GET)."""
    with DimseBackend(his_pacs.pacs.settings()) as b:
        out = {}
        for part10 in b.retrieve_study(study_uid):
            ds = dcmread(io.BytesIO(part10))
            out[str(ds.SOPInstanceUID)] = ds
        return out


def check_archive(zf: pyzipper.ZipFile, his_pacs, study_uid: str) -> None:
    names = set(zf.namelist())
    assert "DICOMDIR" in names
    ddir = dcmread(io.BytesIO(zf.read("DICOMDIR")))
    records = ddir.DirectoryRecordSequence
    kinds = [r.DirectoryRecordType for r in records]
    assert kinds.count("PATIENT") == 1
    assert kinds.count("STUDY") == 1
    images = [r for r in records if r.DirectoryRecordType == "IMAGE"]
    expected = stored_files(his_pacs, study_uid)
    assert len(images) == len(expected) == len(names) - 1
    for record in images:
        file_id = "/".join(record.ReferencedFileID)
        assert all(len(c) <= 8 for c in record.ReferencedFileID)
        ds = dcmread(io.BytesIO(zf.read(file_id)))
        uid = str(ds.SOPInstanceUID)
        assert record.ReferencedSOPInstanceUIDInFile == uid
        assert ds.PixelData == expected[uid].PixelData
        assert ds.PatientID == expected[uid].PatientID


def a_study(his_pacs) -> tuple[int, str]:
    pid = next(iter(his_pacs.studies.values()))[0]
    return pid, his_pacs.studies_of(pid)[0]


def test_plain_export_has_every_instance_and_a_dicomdir(his_pacs, client_for):
    pid, uid = a_study(his_pacs)
    resp = client_for({pid}).get(f"/dicomweb/studies/{uid}/export")
    assert resp.status_code == 200
    assert resp.mimetype == "application/zip"
    with pyzipper.ZipFile(io.BytesIO(resp.get_data())) as zf:
        check_archive(zf, his_pacs, uid)


def test_encrypted_export_opens_with_the_password_only(his_pacs, client_for):
    pid, uid = a_study(his_pacs)
    url = f"/dicomweb/studies/{uid}/export"
    resp = client_for({pid}).post(url, data={"password": "correct horse 42"})
    assert resp.status_code == 200
    data = resp.get_data()
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        zf.setpassword(b"correct horse 42")
        check_archive(zf, his_pacs, uid)
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        zf.setpassword(b"wrong password")
        with pytest.raises(RuntimeError):
            zf.read("DICOMDIR")
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf, pytest.raises(RuntimeError):
        zf.read("DICOMDIR")  # no password at all


def test_short_password_or_missing_one_is_400(his_pacs, client_for):
    pid, uid = a_study(his_pacs)
    client = client_for({pid})
    url = f"/dicomweb/studies/{uid}/export"
    assert client.post(url, data={"password": "short"}).status_code == 400
    assert client.post(url, data={}).status_code == 400


def test_another_patients_study_is_404(his_pacs, client_for):
    pid, _ = a_study(his_pacs)
    other = next(v[0] for v in his_pacs.studies.values() if v[0] != pid)
    theirs = his_pacs.studies_of(other)[0]
    assert client_for({pid}).get(f"/dicomweb/studies/{theirs}/export").status_code == 404


def test_a_study_with_empty_type_2_attributes_exports_with_its_dicomdir():
    """Study ID, study date and time, series and instance numbers may be empty in an image
    (Type 2) but not in the DICOMDIR's records (Type 1): the records get placeholders (the
    series date where known), the files stay as they were."""
    from datetime import datetime

    from demo.synthetic import Patient, StudySpec, build_study
    from dicomweb.export import export_zip
    from tests.dicomweb.conftest import new_uid

    spec = StudySpec(
        study_uid=new_uid(),
        patient=Patient("EMPTY-1", "Empty", "Keys", datetime(1990, 1, 1).date(), "O"),
        accession_number="",
        modality="CT",
        performed_at=datetime(2025, 2, 3, 10, 0),
        instance_count=2,
        max_size=16,
    )
    files = []
    for ds in build_study(spec):
        ds.StudyID = ""
        ds.StudyDate = ""
        ds.StudyTime = ""
        ds.SeriesNumber = None
        ds.InstanceNumber = None
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        files.append(out.getvalue())
    archive = b"".join(export_zip(files))
    with pyzipper.ZipFile(io.BytesIO(archive)) as zf:
        ddir = dcmread(io.BytesIO(zf.read("DICOMDIR")))
        [study] = [r for r in ddir.DirectoryRecordSequence if r.DirectoryRecordType == "STUDY"]
        assert study.StudyDate == "20250203"
        images = [n for n in zf.namelist() if n != "DICOMDIR"]
        assert len(images) == 2
        assert all(dcmread(io.BytesIO(zf.read(n))).StudyID == "" for n in images)
