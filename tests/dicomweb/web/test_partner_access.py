"""A partner clinic's ``system/`` token on /dicomweb: exactly the studies of the patients who
shared with it, decided by the sharing part at each request, against the real Orthanc.

The partner authenticates as SMART Backend Services do (client_credentials with a
private_key_jwt assertion); shares are granted and withdrawn through the sharing part, as the
FHIR side's partner test does. What is expected comes from the PACS itself (a C-FIND by each
patient's PatientID), not from the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from dicomweb.backends.dimse import DimseBackend
from gateway.app import create_app
from tests.conftest import app_config
from tests.dicomweb.web.conftest import HisPacs
from tests.smart_auth.test_backend_services import _assertion, _partner, _rsa, _token

JSON = {"Accept": "application/dicom+json"}
MISSING = "2.25.314159265358979323846264338327950288"


@pytest.fixture
def partner_app(his_pacs: HisPacs, tmp_path: Any) -> Iterator[Flask]:
    """The gateway with authorization on (no development open access) in front of the PACS."""
    settings = his_pacs.pacs.settings()
    backend = DimseBackend(settings)
    app = create_app(
        app_config(
            his_pacs.his_url,
            dev_open_access=False,
            state_url=f"sqlite:///{tmp_path / 'state.sqlite'}",
        ),
        pacs=backend,
        pacs_settings=settings,
    )
    yield app
    backend.close()
    app.extensions["state_engine"].dispose()


def pacs_studies(his_pacs: HisPacs, mrn: str) -> set[str]:
    """The studies the PACS holds for one PatientID, asked directly (the ground truth)."""
    with DimseBackend(his_pacs.pacs.settings()) as backend:
        return {str(ds.StudyInstanceUID) for ds in backend.find_studies({"PatientID": mrn})}


def test_a_partner_sees_exactly_the_studies_of_the_patients_who_shared(his_pacs, partner_app):
    from smart_auth.sharing.service import grant_share, withdraw_share

    mrns = {pid: mrn for pid, mrn in his_pacs.studies.values()}
    a, b, c = sorted(mrns)[:3]
    engine = partner_app.extensions["state_engine"]
    key = _rsa("rsa-1")
    client_id = _partner(partner_app, key)
    other = _partner(partner_app, _rsa("rsa-2"))
    grant_share(engine, a, client_id)
    share_b = grant_share(engine, b, client_id)
    grant_share(engine, c, other)  # shared with another partner only
    answer = _token(partner_app, _assertion(client_id, key), scope="system/ImagingStudy.rs")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    auth = {"Authorization": f"Bearer {answer.get_json()['access_token']}", **JSON}
    client = partner_app.test_client()

    def listed() -> set[str]:
        rsp = client.get("/dicomweb/studies", headers=auth)
        assert rsp.status_code == 200, rsp.get_data(as_text=True)
        return {item["0020000D"]["Value"][0] for item in rsp.get_json()}

    of_a, of_b, of_c = (pacs_studies(his_pacs, mrns[p]) for p in (a, b, c))
    assert of_a
    assert of_b
    assert of_c
    assert listed() == of_a | of_b
    # another patient's study, searched, read or retrieved, answers exactly like a missing one
    study_c = sorted(of_c)[0]
    rsp = client.get(f"/dicomweb/studies?StudyInstanceUID={study_c}", headers=auth)
    assert rsp.get_json() == []
    for suffix in ("", "/metadata", "/series"):
        theirs = client.get(f"/dicomweb/studies/{study_c}{suffix}", headers=auth)
        missing = client.get(f"/dicomweb/studies/{MISSING}{suffix}", headers=auth)
        assert theirs.status_code == missing.status_code == 404, suffix
        assert theirs.get_data() == missing.get_data()
    study_b = sorted(of_b)[0]
    assert client.get(f"/dicomweb/studies/{study_b}/metadata", headers=auth).status_code == 200
    assert client.get(f"/dicomweb/studies/{study_b}/series", headers=auth).status_code == 200

    # the share is withdrawn: B's studies are gone at once, with the same token
    withdraw_share(engine, int(share_b["id"]), frozenset({b}))
    assert listed() == of_a
    for suffix in ("", "/metadata", "/series"):
        rsp = client.get(f"/dicomweb/studies/{study_b}{suffix}", headers=auth)
        assert rsp.status_code == 404, suffix
    # without a token, nothing
    assert client.get("/dicomweb/studies", headers=JSON).status_code == 401


def test_a_partner_token_without_imaging_scope_is_403(his_pacs, partner_app):
    from smart_auth.sharing.service import grant_share

    pid = next(iter(his_pacs.studies.values()))[0]
    key = _rsa("rsa-1")
    client_id = _partner(partner_app, key)
    grant_share(partner_app.extensions["state_engine"], pid, client_id)
    answer = _token(partner_app, _assertion(client_id, key), scope="system/Observation.rs")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    auth = {"Authorization": f"Bearer {answer.get_json()['access_token']}", **JSON}
    assert partner_app.test_client().get("/dicomweb/studies", headers=auth).status_code == 403
