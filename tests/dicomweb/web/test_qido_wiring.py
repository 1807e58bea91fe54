"""The gateway reaches its PACS from FHIR_GATEWAY_PACS_* settings alone (no backend passed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.app import create_app
from gateway.settings import SettingsError
from tests.conftest import app_config
from tests.dicomweb.conftest import CALLING_AET
from tests.dicomweb.web.conftest import HisPacs

JSON = {"Accept": "application/dicom+json"}


def pacs_config(his_pacs: HisPacs, **extra: object) -> dict[str, object]:
    process = his_pacs.pacs.process
    pacs: dict[str, object] = {
        "pacs_enabled": True,
        "pacs_host": "127.0.0.1",
        "pacs_port": process.dicom_port,
        "pacs_called_aet": process.aet,
        "pacs_calling_aet": CALLING_AET,
    }
    return app_config(his_pacs.his_url, **{**pacs, **extra})


@pytest.fixture
def configured(his_pacs: HisPacs) -> Iterator[Any]:
    app = create_app(pacs_config(his_pacs))
    yield app
    app.extensions["pacs_backend"].close()


def test_settings_alone_make_dicomweb_talk_to_the_pacs(his_pacs, configured, dw_client):
    rsp = configured.test_client().get("/dicomweb/studies", headers=JSON)
    assert rsp.status_code == 200
    found = {item["0020000D"]["Value"][0] for item in rsp.get_json()}
    # the run's Orthanc also holds studies other tests stored: the HIS's must all be there
    assert set(his_pacs.studies) <= found
    assert rsp.get_json() == dw_client.get("/dicomweb/studies", headers=JSON).get_json()
    backend = configured.extensions["dicomweb"].backend
    assert backend.settings.port == his_pacs.pacs.process.dicom_port
    assert configured.extensions["dicomweb"].pacs.calling_aet == CALLING_AET


def test_no_dicomweb_unless_enabled(his_pacs):
    app = create_app(app_config(his_pacs.his_url))
    assert "dicomweb" not in app.extensions
    assert app.test_client().get("/dicomweb/studies", headers=JSON).status_code == 404


def test_environment_variables_configure_the_pacs(his_pacs, monkeypatch):
    process = his_pacs.pacs.process
    monkeypatch.setenv("FHIR_GATEWAY_PACS_ENABLED", "true")
    monkeypatch.setenv("FHIR_GATEWAY_PACS_PORT", str(process.dicom_port))
    monkeypatch.setenv("FHIR_GATEWAY_PACS_CALLED_AET", process.aet)
    monkeypatch.setenv("FHIR_GATEWAY_PACS_CALLING_AET", CALLING_AET)
    monkeypatch.setenv("FHIR_GATEWAY_PACS_PATIENT_ID_SOURCE", "national_id")
    app = create_app(app_config(his_pacs.his_url))
    try:
        assert app.extensions["dicomweb"].pacs.patient_id_source == "national_id"
        rsp = app.test_client().get("/dicomweb/studies?limit=1", headers=JSON)
        assert rsp.status_code == 200
        assert len(rsp.get_json()) == 1
    finally:
        app.extensions["pacs_backend"].close()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("pacs_called_aet", "A" * 17),
        ("pacs_retrieve_mode", "c-teleport"),
        ("pacs_patient_id_source", "shoe_size"),
    ],
)
def test_bad_pacs_settings_are_refused_by_name(his_pacs, name, value):
    with pytest.raises(SettingsError, match="PACS"):
        create_app(pacs_config(his_pacs, **{name: value}))
