"""AuditEvents follow IHE BALP (https://profiles.ihe.net/ITI/BALP/) and every reference in them
resolves for the patient who reads them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from jsonschema import validators

from gateway.app import create_app
from mappers.audit_event import from_audit_row
from tests.conftest import SHARED_R4, app_config
from tests.credentials import patient_client

INTERACTIONS = "http://hl7.org/fhir/restful-interaction"
ROLES = "http://terminology.hl7.org/CodeSystem/object-role"
ENTITY_TYPES = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


@pytest.fixture
def gateway(sqlite_his: str, tmp_path: Path) -> Iterator[Any]:
    app = create_app(
        app_config(sqlite_his, dev_open_access=False, state_url=f"sqlite:///{tmp_path}/s.sqlite")
    )
    yield app
    app.extensions["audit_writer"].close()


def r4_schema_errors(resource: dict[str, Any]) -> list[str]:
    path = SHARED_R4 / "fhir.schema.json"
    if not path.is_file():
        return []
    schema = json.loads(path.read_text(encoding="utf-8"))
    check = validators.validator_for(schema)(
        {"$ref": "#/definitions/AuditEvent", "definitions": schema["definitions"]}
    )
    return [e.message for e in check.iter_errors(resource)]


def assert_balp(event: dict[str, Any]) -> None:
    """The elements BALP's basic RESTful patterns ask for."""
    AuditEvent.model_validate(event)  # fhir.resources: the resource is a valid AuditEvent
    assert r4_schema_errors(event) == []
    assert event["type"]["code"] == "rest"
    assert [s["system"] for s in event["subtype"]] == [INTERACTIONS]
    assert [a.get("requestor") for a in event["agent"]].count(True) == 1
    roles = {c["code"] for a in event["agent"] for c in a.get("type", {}).get("coding", [])}
    assert {"110153", "110152"} <= roles  # the client (source) and the server (destination)
    assert event["source"]["observer"]
    for entity in event.get("entity", []):
        role, kind = entity["role"], entity["type"]
        assert role["system"] == ROLES
        assert kind["system"] == ENTITY_TYPES
        if entity["what"].get("reference", "").startswith("Patient/"):
            assert (role["code"], kind["code"]) == ("1", "1")
        else:
            assert (role["code"], kind["code"]) == ("4", "2")


def test_every_reference_of_a_patients_audit_events_resolves_for_that_patient(
    gateway: Any,
) -> None:
    app = gateway
    client = patient_client(app, 1, "patient/*.rs")
    page = client.get("/fhir/Observation?patient=1&_count=3").get_json()
    seen = [e["resource"]["id"] for e in page["entry"]]
    assert client.get(f"/fhir/Observation/{seen[0]}").status_code == 200
    assert client.get("/fhir/Patient/1").status_code == 200
    assert client.get("/fhir/Encounter?patient=1&_count=2").status_code == 200
    assert client.get("/fhir/Patient/1/$everything?_count=5").status_code == 200
    assert client.get("/fhir/Observation/no-such-thing").status_code == 404
    # another app of the patient's, launched for Patient only: a denied decision
    narrow = patient_client(app, 1, "patient/Patient.rs")
    assert narrow.get("/fhir/Encounter?patient=1").status_code == 403
    app.extensions["audit_writer"].flush()
    assert client.get("/fhir/AuditEvent?_count=5").status_code == 200  # seen: AuditEvents
    app.extensions["audit_writer"].flush()
    answer = client.get("/fhir/AuditEvent?_count=200")
    assert answer.status_code == 200
    events = [e["resource"] for e in answer.get_json()["entry"]]
    assert len(events) >= 9
    references: set[str] = set()
    for event in events:
        assert_balp(event)
        references |= {
            x["what"]["reference"] for x in event.get("entity", []) if "reference" in x["what"]
        }
    kinds = {r.split("/")[0] for r in references}
    assert {"Patient", "Observation", "Encounter", "AuditEvent"} <= kinds
    unresolved = [r for r in sorted(references) if client.get(f"/fhir/{r}").status_code != 200]
    assert unresolved == []


def _row(kind: str, ids: str, action: str = "search") -> dict[str, Any]:
    return {
        "id": "0" * 32,
        "recorded": dt.datetime(2026, 11, 1, 8, 0),
        "action": action,
        "resource_type": kind,
        "outcome": "allowed",
        "subject": "patient:501",
        "client_id": None,
        "entity_ids": ids,
    }


def test_a_study_uid_is_an_identifier_never_a_reference() -> None:
    uid = "1.2.826.0.1.3680043.8.498.1"
    event = from_audit_row(_row("ImagingStudy", f"{uid},77"), [1])
    assert_balp(event)
    whats = [x["what"] for x in event["entity"]]
    assert {"reference": "Patient/1"} in whats
    assert {"reference": "ImagingStudy/77"} in whats  # the HIS imaging order: a FHIR id
    assert {
        "type": "ImagingStudy",
        "identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"},
    } in whats
    assert not any(w.get("reference", "").endswith(uid) for w in whats)


def test_ids_no_reference_could_resolve_are_left_out() -> None:
    event = from_audit_row(_row("Observation", "ok-1,has space," + "a" * 65), [])
    whats = [x["what"] for x in event.get("entity", [])]
    assert whats == [{"reference": "Observation/ok-1"}]
    assert_balp(event)


def test_what_was_refused_or_not_found_is_named_not_referenced() -> None:
    row = {**_row("Observation", "obs-9", action="read"), "outcome": "not-found"}
    (entity,) = from_audit_row(row, [])["entity"]
    assert entity["what"] == {"type": "Observation", "display": "Observation/obs-9"}
