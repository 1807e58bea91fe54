"""STOW-RS (PS3.18 §10.5) through the gateway into the real Orthanc, with patient grants."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from pydicom.dataset import Dataset

from demo.synthetic import Patient, StudySpec, build_study
from dicomweb.backends.dimse import DimseBackend
from dicomweb.stow import CANNOT_UNDERSTAND, STUDY_UID_MISMATCH
from tests.dicomweb.conftest import new_uid

BOUNDARY = "stow-test-boundary"
CT = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
#: STOW-RS creates ImagingStudy content: it needs the SMART create permission.
UPLOAD = "patient/*.rs patient/ImagingStudy.c"


def part10(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def body(*parts: bytes) -> bytes:
    chunks = [
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n"
        for p in parts
    ]
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


def study(patient_id: str, count: int = 2, issuer: str = "") -> list[Dataset]:
    spec = StudySpec(
        study_uid=new_uid(),
        patient=Patient(
            patient_id, "Upload", "Test", datetime(1990, 1, 1).date(), "O", issuer=issuer
        ),
        accession_number="",
        modality="CT",
        performed_at=datetime(2025, 2, 3, 10, 0),
        instance_count=count,
        max_size=16,
    )
    return list(build_study(spec))


def mrn_of(his_pacs) -> tuple[int, str]:
    return next(iter(his_pacs.studies.values()))


def other_patient(his_pacs, pid: int) -> tuple[int, str]:
    return next(v for v in his_pacs.studies.values() if v[0] != pid)


def in_pacs(his_pacs, study_uid: str) -> list[Dataset]:
    with DimseBackend(his_pacs.pacs.settings()) as b:
        return b.find_instances(study_uid, None, {})


def post(client, data: bytes, url: str = "/dicomweb/studies", content_type: str = CT):
    return client.post(url, data=data, headers={"Content-Type": content_type})


def test_upload_of_the_own_identity_lands_in_the_pacs(his_pacs, client_for):
    pid, mrn = mrn_of(his_pacs)
    datasets = study(mrn)
    resp = post(client_for({pid}, UPLOAD), body(*map(part10, datasets)))
    assert resp.status_code == 200, resp.get_data()
    assert resp.mimetype == "application/dicom+json"
    answer = Dataset.from_json(resp.get_json())
    uid = str(datasets[0].StudyInstanceUID)
    assert answer.RetrieveURL.endswith(f"/dicomweb/studies/{uid}")
    refs = {str(i.ReferencedSOPInstanceUID) for i in answer.ReferencedSOPSequence}
    assert refs == {str(ds.SOPInstanceUID) for ds in datasets}
    assert "FailedSOPSequence" not in answer
    found = in_pacs(his_pacs, uid)
    assert {str(d.SOPInstanceUID) for d in found} == refs


def test_a_token_without_create_permission_cannot_store(his_pacs, client_for):
    pid, mrn = mrn_of(his_pacs)
    datasets = study(mrn)
    resp = post(client_for({pid}), body(*map(part10, datasets)))
    assert resp.status_code == 403
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
    assert in_pacs(his_pacs, str(datasets[0].StudyInstanceUID)) == []


def test_mismatching_patient_id_is_refused_not_rewritten(his_pacs, client_for):
    pid, mrn = mrn_of(his_pacs)
    mine, foreign = study(mrn, 1)[0], study("SOMEONE-ELSE", 1)[0]
    resp = post(client_for({pid}, UPLOAD), body(part10(mine), part10(foreign)))
    assert resp.status_code == 202
    answer = Dataset.from_json(resp.get_json())
    [failed] = answer.FailedSOPSequence
    assert failed.ReferencedSOPInstanceUID == foreign.SOPInstanceUID
    assert failed.FailureReason == CANNOT_UNDERSTAND
    [ok] = answer.ReferencedSOPSequence
    assert ok.ReferencedSOPInstanceUID == mine.SOPInstanceUID
    assert in_pacs(his_pacs, str(foreign.StudyInstanceUID)) == []  # not stored under any ID


def test_another_patient_cannot_store_into_someone_elses_patient_id(his_pacs, client_for):
    pid, _ = mrn_of(his_pacs)
    _, other_mrn = other_patient(his_pacs, pid)
    datasets = study(other_mrn)
    resp = post(client_for({pid}, UPLOAD), body(*map(part10, datasets)))
    assert resp.status_code == 409
    answer = Dataset.from_json(resp.get_json())
    assert len(answer.FailedSOPSequence) == 2
    assert in_pacs(his_pacs, str(datasets[0].StudyInstanceUID)) == []


def test_cannot_graft_instances_onto_another_patients_study(his_pacs, client_for):
    pid, mrn = mrn_of(his_pacs)
    other_pid, _ = other_patient(his_pacs, pid)
    their_study = his_pacs.studies_of(other_pid)[0]
    ds = study(mrn, 1)[0]
    ds.StudyInstanceUID = their_study
    resp = post(client_for({pid}, UPLOAD), body(part10(ds)))
    assert resp.status_code == 409
    uids = {str(d.SOPInstanceUID) for d in in_pacs(his_pacs, their_study)}
    assert str(ds.SOPInstanceUID) not in uids


def test_study_uid_in_url_must_match_the_instance(his_pacs, dw_client):
    [ds] = study("OPEN-ACCESS", 1)
    resp = post(dw_client, body(part10(ds)), url=f"/dicomweb/studies/{new_uid()}")
    assert resp.status_code == 409
    [failed] = Dataset.from_json(resp.get_json()).FailedSOPSequence
    assert failed.FailureReason == STUDY_UID_MISMATCH
    ok = post(dw_client, body(part10(ds)), url=f"/dicomweb/studies/{ds.StudyInstanceUID}")
    assert ok.status_code == 200
    [stored] = in_pacs(his_pacs, str(ds.StudyInstanceUID))
    assert stored.SOPInstanceUID == ds.SOPInstanceUID


@pytest.mark.parametrize(
    "content_type",
    [
        "application/dicom",
        "application/json",
        f'multipart/related; type="application/dicom+json"; boundary={BOUNDARY}',
        "",
    ],
)
def test_unsupported_media_type_is_415(dw_client, content_type):
    [ds] = study("OPEN-ACCESS", 1)
    assert post(dw_client, body(part10(ds)), content_type=content_type).status_code == 415


@pytest.mark.parametrize(
    "data",
    [
        b"no multipart at all",
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\nxx".encode(),  # truncated
        f"--{BOUNDARY}--\r\n".encode(),  # no parts
        body(b"not a DICOM file"),
    ],
)
def test_bad_bodies_are_400(dw_client, data):
    resp = post(dw_client, data)
    assert resp.status_code == 400
    assert resp.mimetype == "application/dicom+json"


def test_missing_boundary_is_400(dw_client):
    ct = 'multipart/related; type="application/dicom"'
    assert post(dw_client, body(b"x"), content_type=ct).status_code == 400


def test_body_over_the_limit_is_413(his_pacs):
    from tests.dicomweb.web.conftest import make_app

    app = make_app(his_pacs, stow_max_bytes=1000)
    try:
        [ds] = study("OPEN-ACCESS", 1)
        resp = post(app.test_client(), body(part10(ds)))
        assert resp.status_code == 413
    finally:
        app.extensions["test_backend"].close()


# --- authorization on: tokens that read but never store ---------------------------------------


@pytest.fixture
def signed_in(his_pacs, tmp_path):
    from tests.dicomweb.web.conftest import close_signed_in_app, signed_in_app

    app = signed_in_app(his_pacs, tmp_path)
    yield app
    close_signed_in_app(app)


def _refused(his_pacs, app, auth: dict[str, str], mrn: str, query: str = "") -> None:
    """A STOW-RS of the patient's own identity is 403 with that credential; nothing stored."""
    datasets = study(mrn)
    resp = app.test_client().post(
        f"/dicomweb/studies{query}",
        data=body(*map(part10, datasets)),
        headers={**auth, "Content-Type": CT},
    )
    assert resp.status_code == 403, resp.get_data(as_text=True)
    assert resp.mimetype == "application/dicom+json"
    assert in_pacs(his_pacs, str(datasets[0].StudyInstanceUID)) == []


def test_a_viewer_token_cannot_store(his_pacs, signed_in):
    from tests.dicomweb.web.conftest import smart_token

    pid, mrn = mrn_of(his_pacs)
    uid = his_pacs.studies_of(pid)[0]
    own = {"Authorization": f"Bearer {smart_token(signed_in, pid)}"}
    minted = signed_in.test_client().post(f"/dicomweb/studies/{uid}/viewer-link", headers=own)
    assert minted.status_code == 201, minted.get_data(as_text=True)
    token = minted.get_json()["token"]
    _refused(his_pacs, signed_in, {"Authorization": f"Bearer {token}"}, mrn)
    _refused(his_pacs, signed_in, {}, mrn, query=f"?token={token}")


def test_a_result_code_token_cannot_store(his_pacs, signed_in):
    import sqlalchemy as sa

    from fhir_gateway.his.schema import lab_bulletin, patient
    from fhir_gateway.his.sql import make_engine

    engine = make_engine(his_pacs.his_url)
    b, p = lab_bulletin, patient
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(b.c.access_code, p.c.national_id, p.c.mrn)
            .join(p, p.c.id == b.c.patient_id)
            .where(b.c.access_code.is_not(None))
            .order_by(b.c.id)
        ).first()
    engine.dispose()
    assert row is not None
    answer = signed_in.test_client().post(
        "/auth/result-access", data={"code": row.access_code, "national_id": row.national_id}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    token = answer.get_json()["access_token"]
    _refused(his_pacs, signed_in, {"Authorization": f"Bearer {token}"}, str(row.mrn))


@pytest.mark.parametrize("asked", ["system/ImagingStudy.rs", "system/ImagingStudy.crs"])
def test_a_partners_system_token_cannot_store(his_pacs, signed_in, asked):
    """Not even one that carries the create permission, for the one patient who shared."""
    from smart_auth.sharing.service import grant_share
    from tests.smart_auth.test_backend_services import _assertion, _partner, _rsa, _token

    pid, mrn = mrn_of(his_pacs)
    key = _rsa("rsa-1")
    client_id = _partner(signed_in, key)
    grant_share(signed_in.extensions["state_engine"], pid, client_id)  # one patient shared
    answer = _token(signed_in, _assertion(client_id, key), scope=asked)
    if answer.status_code != 200:  # the token endpoint already refuses a create scope
        assert answer.status_code == 400, answer.get_data(as_text=True)
        return
    token = answer.get_json()["access_token"]
    _refused(his_pacs, signed_in, {"Authorization": f"Bearer {token}"}, mrn)
