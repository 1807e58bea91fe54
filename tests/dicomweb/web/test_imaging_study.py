"""FHIR ImagingStudy merged from the HIS and the real Orthanc (F14)."""

from __future__ import annotations

import json

import pytest

from dicomweb.pacs_studies import PacsStudies
from mappers.imaging_study import AVAILABILITY_URL, merge_pacs
from tests.conftest import SHARED_R4

FHIR = "application/fhir+json"


@pytest.fixture(scope="module")
def validate():
    jsonschema = pytest.importorskip("jsonschema")
    path = SHARED_R4 / "fhir.schema.json"
    if not path.is_file():
        pytest.skip("the official R4 schema is not available")
    schema = json.loads(path.read_text())
    sub = {"$ref": "#/definitions/ImagingStudy", "definitions": schema["definitions"]}
    validator = jsonschema.validators.validator_for(schema)(sub)

    def check(resource: dict) -> None:
        errors = [e.message for e in validator.iter_errors(resource)]
        assert not errors, errors[:3]

    return check


def _availability(resource: dict) -> dict:
    (ext,) = [e for e in resource["extension"] if e["url"] == AVAILABILITY_URL]
    return {e["url"]: e.get("valueBoolean", e.get("valueReference")) for e in ext["extension"]}


def _search(client, pid: int, **params) -> list[dict]:
    answer = client.get("/fhir/ImagingStudy", query_string={"patient": pid, **params})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    entries = answer.get_json().get("entry", [])
    return [e["resource"] for e in entries if e["search"]["mode"] == "match"]


def test_a_study_the_pacs_holds_has_its_series_endpoint_and_availability(
    his_pacs, client_for, validate
):
    uid, (pid, _) = sorted(his_pacs.studies.items())[0]
    client = client_for({pid})
    studies = {s["identifier"][0]["value"]: s for s in _search(client, pid)}
    study = studies[f"urn:oid:{uid}"]
    validate(study)
    assert _availability(study)["images"] is True
    (endpoint,) = study["contained"]
    assert endpoint["resourceType"] == "Endpoint"
    assert endpoint["connectionType"]["code"] == "dicom-wado-rs"
    assert endpoint["address"].endswith("/dicomweb")
    assert study["endpoint"] == [{"reference": "#dicomweb"}]
    # Counts and series as the PACS answers them (C-FIND at study and series level)
    backend = client.application.extensions["dicomweb"].backend
    (pacs_study,) = backend.find_studies(
        {"StudyInstanceUID": uid, "NumberOfStudyRelatedInstances": "", "PatientID": ""}
    )
    series = backend.find_series(uid, {"NumberOfSeriesRelatedInstances": ""})
    assert study["numberOfInstances"] == int(pacs_study.NumberOfStudyRelatedInstances)
    assert study["numberOfSeries"] == len(series) == len(study["series"])
    assert {s["uid"] for s in study["series"]} == {str(s.SeriesInstanceUID) for s in series}
    assert sum(s["numberOfInstances"] for s in study["series"]) == study["numberOfInstances"]
    assert all(s["modality"]["code"] for s in study["series"])
    assert study["identifier"][1]["value"] == str(pacs_study.get("AccessionNumber", ""))


def test_the_report_is_linked_when_the_his_has_it(his_pacs, client_for, validate):
    by_patient: dict[int, None] = {pid: None for pid, _ in his_pacs.studies.values()}
    client = client_for(set(by_patient))
    seen = {True: 0, False: 0}
    for pid in list(by_patient)[:6]:
        for study in _search(client, pid):
            validate(study)
            flags = _availability(study)
            seen[flags["report"]] += 1
            if flags["report"]:
                ref = flags["reportReference"]["reference"]
                report = client.get(f"/fhir/{ref}")
                assert report.status_code == 200
                assert {"reference": f"ImagingStudy/{study['id']}"} in report.get_json()[
                    "imagingStudy"
                ]
            else:
                assert "reportReference" not in flags
    assert seen[True], seen  # unreported studies: test_a_study_the_pacs_lacks_says_so


def test_search_by_patient_modality_and_date_still_narrows(his_pacs, client_for):
    uid, (pid, _) = sorted(his_pacs.studies.items())[0]
    client = client_for({pid})
    (study,) = [s for s in _search(client, pid) if s["identifier"][0]["value"] == f"urn:oid:{uid}"]
    code = study["modality"][0]["code"]
    day = study["started"][:10]
    found = _search(client, pid, modality=code, started=day)
    assert f"urn:oid:{uid}" in {s["identifier"][0]["value"] for s in found}
    assert all(s["started"][:10] == day for s in found)
    other = "MG" if code != "MG" else "CT"
    assert f"urn:oid:{uid}" not in {
        s["identifier"][0]["value"] for s in _search(client, pid, modality=other)
    }


def test_a_read_is_merged_too(his_pacs, client_for, validate):
    uid, (pid, _) = sorted(his_pacs.studies.items())[0]
    client = client_for({pid})
    (study,) = [s for s in _search(client, pid) if s["identifier"][0]["value"] == f"urn:oid:{uid}"]
    read = client.get(f"/fhir/ImagingStudy/{study['id']}").get_json()
    validate(read)
    assert read["series"] == study["series"]


def test_without_a_pacs_the_study_is_the_his_one(sqlite_his):
    from gateway.app import create_app
    from tests.conftest import app_config

    app = create_app(app_config(sqlite_his, dev_open_access=True))
    entries = app.test_client().get("/fhir/ImagingStudy?_count=5").get_json()["entry"]
    for entry in entries:
        assert "series" not in entry["resource"]
        assert "extension" not in entry["resource"]


def test_a_study_the_pacs_lacks_says_so():
    resource = {"resourceType": "ImagingStudy", "id": "1", "status": "available"}
    merged = merge_pacs(resource, {"id": 1, "reported_at": None}, None, "http://g/dicomweb")
    assert _availability(merged) == {"images": False, "report": False}
    assert "series" not in merged
    assert "endpoint" not in merged


def test_gather_ignores_uids_the_pacs_does_not_hold(his_pacs, dw_app):
    uid = sorted(his_pacs.studies)[0]
    held = PacsStudies(dw_app.extensions["dicomweb"].backend, "http://g/dicomweb").gather(
        [uid, "1.2.3.4.5.6.404"]
    )
    assert list(held) == [uid]
