"""Issuer-qualified PatientIDs (FHIR_GATEWAY_PACS_PATIENT_ID_ISSUER): where a PACS holds the
patients of several issuers, the same PatientID under another Issuer of Patient ID (0010,0021)
is somebody else. Its own Orthanc: the studies stored here must not show in other modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from pydicom.dataset import Dataset

from dicomweb.backends.dimse import DimseBackend
from dicomweb.stow import CANNOT_UNDERSTAND
from gateway.app import create_app
from tests.conftest import app_config
from tests.credentials import patient_client
from tests.dicomweb.conftest import Pacs, start_pacs
from tests.dicomweb.web.test_stow import body, part10, post, study

ISSUER = "HOSPITAL-A"


@pytest.fixture(scope="module")
def own_pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    running = start_pacs(tmp_path_factory.mktemp("orthanc-issuer"))
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def patient(sqlite_his: str) -> tuple[int, str]:
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT id, mrn FROM patient ORDER BY id LIMIT 1")).one()
    engine.dispose()
    return int(row[0]), str(row[1])


def _study(mrn: str, issuer: str, count: int = 2) -> list[Dataset]:
    return study(mrn, count, issuer=issuer)


@pytest.fixture(scope="module")
def stored(own_pacs: Pacs, patient: tuple[int, str]) -> dict[str, str]:
    """issuer -> study UID, all under the patient's MRN as PatientID."""
    _, mrn = patient
    out: dict[str, str] = {}
    with DimseBackend(own_pacs.settings()) as backend:
        for issuer in (ISSUER, "HOSPITAL-B", ""):
            datasets = _study(mrn, issuer)
            assert backend.store(datasets).ok
            out[issuer] = str(datasets[0].StudyInstanceUID)
    return out


@pytest.fixture
def client(own_pacs: Pacs, sqlite_his: str, patient: tuple[int, str]) -> Iterator[Any]:
    settings = own_pacs.settings(patient_id_issuer=ISSUER)
    backend = DimseBackend(settings)
    app = create_app(
        app_config(sqlite_his, dev_open_access=False, pacs_patient_id_issuer=ISSUER),
        pacs=backend,
        pacs_settings=settings,
    )
    yield patient_client(app, patient[0], "patient/*.rs patient/ImagingStudy.c")
    app.extensions["state_engine"].dispose()
    backend.close()


def test_only_the_studies_under_the_hospitals_issuer_are_the_patients(
    client: Any, stored: dict[str, str]
) -> None:
    found = client.get("/dicomweb/studies", query_string={"includefield": "00100021"})
    assert found.status_code == 200
    uids = {s["0020000D"]["Value"][0] for s in found.get_json()}
    assert uids == {stored[ISSUER]}
    for issuer in ("HOSPITAL-B", ""):
        other = stored[issuer]
        assert client.get(f"/dicomweb/studies/{other}/metadata").status_code == 404
        assert client.get(f"/dicomweb/studies/{other}/series").status_code == 404
    assert client.get(f"/dicomweb/studies/{stored[ISSUER]}/metadata").status_code == 200


def test_an_issuer_in_the_query_cannot_widen_access(client: Any, stored: dict[str, str]) -> None:
    asked = client.get("/dicomweb/studies", query_string={"IssuerOfPatientID": "HOSPITAL-B"})
    assert {s["0020000D"]["Value"][0] for s in asked.get_json() or []} <= {stored[ISSUER]}


def test_an_upload_must_carry_the_issuer(
    client: Any, own_pacs: Pacs, patient: tuple[int, str]
) -> None:
    _, mrn = patient
    [right] = _study(mrn, ISSUER, 1)
    [wrong] = _study(mrn, "HOSPITAL-B", 1)
    [missing] = _study(mrn, "", 1)
    answer = post(client, body(part10(right), part10(wrong), part10(missing)))
    assert answer.status_code == 202
    result = Dataset.from_json(answer.get_json())
    assert [str(r.ReferencedSOPInstanceUID) for r in result.ReferencedSOPSequence] == [
        str(right.SOPInstanceUID)
    ]
    failed = {str(f.ReferencedSOPInstanceUID): f.FailureReason for f in result.FailedSOPSequence}
    assert failed == {
        str(wrong.SOPInstanceUID): CANNOT_UNDERSTAND,
        str(missing.SOPInstanceUID): CANNOT_UNDERSTAND,
    }
    with DimseBackend(own_pacs.settings()) as backend:
        assert backend.find_instances(str(wrong.StudyInstanceUID), None, {}) == []


def test_an_upload_cannot_graft_onto_the_same_patient_id_under_another_issuer(
    client: Any, own_pacs: Pacs, stored: dict[str, str], patient: tuple[int, str]
) -> None:
    _, mrn = patient
    [ds] = _study(mrn, ISSUER, 1)
    ds.StudyInstanceUID = stored["HOSPITAL-B"]  # the other issuer's patient's study
    answer = post(client, body(part10(ds)))
    assert answer.status_code == 409
    with DimseBackend(own_pacs.settings()) as backend:
        held = backend.find_instances(stored["HOSPITAL-B"], None, {})
    assert str(ds.SOPInstanceUID) not in {str(d.SOPInstanceUID) for d in held}


def test_a_study_uid_under_two_issuers_serves_only_the_issuers_instances(
    client: Any, own_pacs: Pacs, patient: tuple[int, str]
) -> None:
    """The same PatientID and Study Instance UID under another issuer (a collision, or a
    mis-filed instance): what is retrieved, its metadata and the export are the issuer's only,
    checked on each instance's own header, fresh and from the cache."""
    import io
    import zipfile

    from pydicom import dcmread

    from dicomweb import multipart

    _, mrn = patient
    mine = _study(mrn, ISSUER, 2)
    theirs = _study(mrn, "HOSPITAL-B", 2)
    uid = str(mine[0].StudyInstanceUID)
    for ds in theirs:
        ds.StudyInstanceUID = uid
    with DimseBackend(own_pacs.settings()) as backend:
        assert backend.store(mine).ok
        assert backend.store(theirs).ok
    own = {str(ds.SOPInstanceUID) for ds in mine}
    listed = client.get(f"/dicomweb/studies/{uid}/instances").get_json()
    assert {row["00080018"]["Value"][0] for row in listed} == own
    series = str(mine[0].SeriesInstanceUID)
    listed = client.get(f"/dicomweb/studies/{uid}/series/{series}/instances").get_json()
    assert {row["00080018"]["Value"][0] for row in listed} == own
    for _ in range(2):  # cold, then from the cache
        rsp = client.get(f"/dicomweb/studies/{uid}")
        assert rsp.status_code == 200
        parts = multipart.read(rsp.data, rsp.headers["Content-Type"])
        assert {str(dcmread(io.BytesIO(p)).SOPInstanceUID) for _, p in parts} == own
        meta = client.get(f"/dicomweb/studies/{uid}/metadata").get_json()
        assert {m["00080018"]["Value"][0] for m in meta} == own
        export = client.get(f"/dicomweb/studies/{uid}/export")
        with zipfile.ZipFile(io.BytesIO(export.data)) as zf:
            names = [n for n in zf.namelist() if n != "DICOMDIR"]
            assert {str(dcmread(io.BytesIO(zf.read(n))).SOPInstanceUID) for n in names} == own
        for ds in theirs:
            series = f"/dicomweb/studies/{uid}/series/{ds.SeriesInstanceUID}"
            path = f"{series}/instances/{ds.SOPInstanceUID}"
            assert client.get(path).status_code == 404
            assert client.get(f"{path}/frames/1").status_code == 404
