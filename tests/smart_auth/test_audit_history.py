"""Patients read their own access history as FHIR AuditEvent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import validators

from gateway.app import create_app
from smart_auth.sharing import service
from tests.conftest import SHARED_R4, app_config
from tests.credentials import (
    Caller,
    bearer_client,
    launch_token,
    partner_token,
    patient_caller,
    patient_client,
)
from tests.smart_auth.test_oauth_fixtures import launch, oauth_app
from tests.smart_auth.test_sharing import PARTNER_KEY, register_partner

__all__ = ["oauth_app"]


@dataclass
class People:
    """Real tokens through the production paths: patient 1's own app (``me``), another app of
    the same account launched for Patient only (``narrow``), patient 2's own app (``other``),
    and clinic-a's backend service, which patient 1 shared with (``partner``)."""

    me: Caller
    narrow: Any
    other: Any
    partner: Any


@pytest.fixture
def gateway(sqlite_his: str, tmp_path: Path) -> Iterator[tuple[Any, People]]:
    app = create_app(
        app_config(sqlite_his, dev_open_access=False, state_url=f"sqlite:///{tmp_path}/s.sqlite")
    )
    state = app.extensions["state_engine"]
    register_partner(state, "clinic-a")
    service.grant_share(state, 1, "clinic-a")
    me = patient_caller(app, 1, "patient/*.rs")
    narrow = bearer_client(
        app,
        launch_token(app, me.account_id, "launch/patient openid patient/Patient.rs", 1)[
            "access_token"
        ],
    )
    people = People(
        me=me,
        narrow=narrow,
        other=patient_client(app, 2, "patient/*.rs"),
        partner=bearer_client(app, partner_token(app, "clinic-a", PARTNER_KEY)),
    )
    yield app, people
    app.extensions["audit_writer"].close()


@pytest.fixture(scope="module")
def r4_errors() -> Any:
    path = SHARED_R4 / "fhir.schema.json"
    if not path.is_file():
        pytest.skip("the official R4 JSON schema is not available")
    schema = json.loads(path.read_text(encoding="utf-8"))
    check = validators.validator_for(schema)(
        {"$ref": "#/definitions/AuditEvent", "definitions": schema["definitions"]}
    )
    return lambda r: [e.message for e in check.iter_errors(r)]


def _history(app: Any, client: Any, query: str = "") -> dict[str, Any]:
    app.extensions["audit_writer"].flush()
    answer = client.get(f"/fhir/AuditEvent{query}")
    assert answer.status_code == 200
    return answer.get_json()


def test_a_patient_sees_the_accesses_to_their_record_and_nobody_elses(
    gateway: Any, r4_errors: Any
) -> None:
    app, people = gateway
    client = people.me.client
    assert client.get("/fhir/Patient/1").status_code == 200
    assert people.other.get("/fhir/Patient/2").status_code == 200
    assert people.partner.get("/fhir/Observation?patient=1&_count=2").status_code == 200
    assert people.partner.get("/fhir/AuditEvent").status_code == 403

    events = [e["resource"] for e in _history(app, client)["entry"]]
    for event in events:
        assert r4_errors(event) == []
        assert {"reference": "Patient/1"} in [x["what"] for x in event["entity"]]
        assert "Patient/2" not in json.dumps(event)
    by_client = {e["agent"][-1]["who"]["identifier"]["value"]: e for e in events}
    assert set(by_client) == {people.me.client_id, "clinic-a"}
    partner = by_client["clinic-a"]
    assert partner["agent"][0]["who"]["identifier"]["value"] == "system:clinic-a"
    # the app's agent carries the name the client is registered under, for plain-word histories
    assert partner["agent"][-1]["who"]["display"] == "Partner clinic-a"
    assert partner["subtype"][0]["code"] == "search-type"
    assert partner["action"] == "E"
    assert partner["outcome"] == "0"
    assert by_client[people.me.client_id]["action"] == "R"

    one = client.get(f"/fhir/AuditEvent/{partner['id']}")
    assert one.status_code == 200
    assert one.get_json() == partner
    assert people.other.get(f"/fhir/AuditEvent/{partner['id']}").status_code == 404


def test_denied_attempts_are_in_the_history_and_pages_follow(gateway: Any) -> None:
    app, people = gateway
    client = people.me.client
    assert people.narrow.get("/fhir/Encounter?patient=1").status_code == 403
    for _ in range(3):
        people.narrow.get("/fhir/Patient/1")
    first = _history(app, client, "?_count=2")
    assert len(first["entry"]) == 2
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    url = urlsplit(following)
    seen = {e["resource"]["id"] for e in first["entry"]}
    rest: list[dict[str, Any]] = []
    query = f"?{url.query}"
    while True:
        page = _history(app, client, query)
        rest += [e["resource"] for e in page.get("entry", [])]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not nxt:
            break
        query = f"?{urlsplit(nxt[0]).query}"
    assert seen.isdisjoint(e["id"] for e in rest)
    denied = [e for e in rest if e["outcome"] == "4"]
    assert [e["outcomeDesc"] for e in denied] == ["denied: search Encounter"]


def test_appointment_reads_show_in_the_patients_history(gateway: Any, sqlite_his: str) -> None:
    """An Appointment names its patient among its participants, not in subject or patient."""
    import sqlalchemy as sa

    app, _people = gateway
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        appointment, patient = conn.execute(
            sa.text("SELECT id, patient_id FROM appointment ORDER BY id LIMIT 1")
        ).one()
    engine.dispose()
    client = patient_client(app, int(patient), "patient/*.rs")
    assert client.get(f"/fhir/Appointment/{appointment}").status_code == 200
    events = [e["resource"] for e in _history(app, client)["entry"]]
    reads = [e for e in events if {"reference": f"Appointment/{appointment}"} in _whats(e)]
    assert reads, "the Appointment read is not in the patient's history"
    assert all({"reference": f"Patient/{patient}"} in _whats(e) for e in reads)


def _whats(event: dict[str, Any]) -> list[Any]:
    return [x.get("what") for x in event.get("entity", [])]


def _events(app: Any, client: Any, query: str) -> list[dict[str, Any]]:
    """Every event a search finds, following its next links."""
    out: list[dict[str, Any]] = []
    page = _history(app, client, query)
    while True:
        out += [e["resource"] for e in page.get("entry", []) if e["search"]["mode"] == "match"]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not nxt:
            return out
        page = _history(app, client, f"?{urlsplit(nxt[0]).query}")


def _some_history(app: Any, people: People) -> dict[str, str]:
    """Reads, searches and a refusal for patient 1, a read for patient 2; returns ids seen."""
    client = people.me.client
    observation = client.get("/fhir/Observation?patient=1&_count=1").get_json()
    seen = observation["entry"][0]["resource"]["id"]
    assert client.get(f"/fhir/Observation/{seen}").status_code == 200
    assert client.get("/fhir/Patient/1").status_code == 200
    assert people.other.get("/fhir/Patient/2").status_code == 200
    assert people.narrow.get("/fhir/Encounter?patient=1").status_code == 403
    app.extensions["audit_writer"].flush()
    return {"observation": seen}


def test_audit_event_search_honours_its_parameters(gateway: Any) -> None:
    app, people = gateway
    client = people.me.client
    seen = _some_history(app, people)["observation"]

    def descs(query: str) -> list[str]:
        return sorted(e["outcomeDesc"] for e in _events(app, client, query))

    assert descs("?action=R") == ["allowed: read Observation", "allowed: read Patient"]
    assert descs("?subtype=read") == descs("?action=R")
    assert descs("?outcome=4") == ["denied: search Encounter"]
    assert "denied: search Encounter" not in descs("?outcome=0")
    assert descs(
        "?action=E&outcome=http://hl7.org/fhir/audit-event-outcome|0&entity-type=Observation"
    ) == ["allowed: search Observation"]
    assert descs(f"?entity=Observation/{seen}") == [
        "allowed: read Observation",
        "allowed: search Observation",
    ]
    assert descs("?entity-role=4&action=R") == descs("?action=R")
    assert descs("?date=lt2000-01-01") == []
    assert descs("?date=ge2000-01-01&type=rest&action=R") == descs("?action=R")
    assert descs("?type=http://example.org|rest") == []
    assert descs("?patient=2") == []  # another patient's events stay out of sight
    assert descs("?entity=Patient/2") == []
    every = _events(app, client, "?patient=Patient/1&_count=200")
    assert every
    one = every[-1]
    assert [e["id"] for e in _events(app, client, f"?_id={one['id']}")] == [one["id"]]
    assert descs("?_lastUpdated=gt2999") == []


def test_audit_event_counts_pages_with_its_parameters_and_refuses_the_rest(gateway: Any) -> None:
    app, people = gateway
    client = people.me.client
    _some_history(app, people)
    for _ in range(3):
        client.get("/fhir/Patient/1")
    reads = _events(app, client, "?action=R&_count=200")
    counted = _history(app, client, "?action=R&_summary=count")
    assert counted["total"] == len(reads)
    assert "entry" not in counted
    assert _history(app, client, "?action=R&_count=0")["total"] == len(reads)
    assert _history(app, client, "?action=R&_count=1&_total=accurate")["total"] == len(reads)
    first = _history(app, client, "?action=R&_count=2&_sort=-date")
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert "action=R" in following
    assert "_sort=-date" in following
    paged = _events(app, client, "?action=R&_count=2")
    assert [e["id"] for e in paged] == [e["id"] for e in reads]

    for refused in (
        "agent-name=x",
        "agent:identifier:x=1",
        "_filter=action eq R",
        "site=x",
        "_text=x",
    ):
        answer = client.get(f"/fhir/AuditEvent?{refused}")
        assert answer.status_code == 400, refused
        assert answer.get_json()["issue"][0]["code"] == "not-supported"
    assert client.get("/fhir/AuditEvent?_sort=date").status_code == 400
    lenient = _history(app, client, "?shoe-size=44&_count=1")
    outcomes = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert "shoe-size" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    strict = client.get("/fhir/AuditEvent?shoe-size=44", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400


def test_audit_events_in_the_patient_compartment(gateway: Any) -> None:
    app, people = gateway
    client = people.me.client
    _some_history(app, people)
    by_param = [e["id"] for e in _events(app, client, "?patient=1&action=R")]
    app.extensions["audit_writer"].flush()
    answer = client.get("/fhir/Patient/1/AuditEvent?action=R")
    assert answer.status_code == 200
    assert [e["resource"]["id"] for e in answer.get_json()["entry"]] == by_param
    other = client.get("/fhir/Patient/2/AuditEvent")
    assert other.status_code == 200
    assert "entry" not in other.get_json()


def test_every_advertised_audit_event_parameter_answers(gateway: Any) -> None:
    from smart_auth.audit.routes import SERVED

    _app, people = gateway
    client = people.me.client
    statement = client.get("/fhir/metadata").get_json(force=True)
    entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "AuditEvent")
    assert [p["name"] for p in entry["searchParam"]] == list(SERVED)
    sample = {"token": "x", "date": "ge2020", "reference": "Patient/1"}
    strict = {"Prefer": "handling=strict"}
    for param in entry["searchParam"]:
        value = sample[param["type"]]
        answer = client.get("/fhir/AuditEvent", query_string={param["name"]: value}, headers=strict)
        assert answer.status_code == 200, (param["name"], answer.get_data(as_text=True)[:300])


def test_audit_events_by_agent_identifier(gateway: Any) -> None:
    app, people = gateway
    client = people.me.client
    assert client.get("/fhir/Patient/1").status_code == 200
    assert people.partner.get("/fhir/Observation?patient=1&_count=2").status_code == 200
    systems = app.config["AUDIT_SYSTEMS"]
    client_id = f"{systems['client_system']}|clinic-a"
    by_app = _events(app, client, f"?agent:identifier={client_id}")
    assert [e["outcomeDesc"] for e in by_app] == ["allowed: search Observation"]
    subject = f"{systems['subject_system']}|system:clinic-a"
    assert [e["id"] for e in _events(app, client, f"?agent:identifier={subject}")] == [
        e["id"] for e in by_app
    ]
    assert _events(app, client, f"?agent:identifier={systems['subject_system']}|clinic-a") == []
    assert _events(app, client, "?agent=Patient/1") == []  # agents are never references
    page = _history(app, client, f"?agent:identifier={client_id}&_count=1")
    assert "agent%3Aidentifier=" in page["link"][0]["url"]


def test_audit_event_search_stays_within_the_tokens_patients(oauth_app: Any) -> None:
    mine = launch(oauth_app, scope="launch/patient patient/*.rs", patients=((3, "self"),))
    theirs = launch(oauth_app, scope="launch/patient patient/*.rs", patients=((4, "self"),))
    me = {"Authorization": f"Bearer {mine['token']['access_token']}"}
    other = {"Authorization": f"Bearer {theirs['token']['access_token']}"}
    client = oauth_app.test_client()
    assert client.get("/fhir/Patient/3", headers=me).status_code == 200
    assert client.get("/fhir/Patient/4", headers=other).status_code == 200
    oauth_app.extensions["audit_writer"].flush()

    def found(query: str) -> list[dict[str, Any]]:
        answer = client.get(f"/fhir/{query}", headers=me)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        return [e["resource"] for e in answer.get_json().get("entry", [])]

    reads = found("AuditEvent?patient=3&action=R&entity-type=Patient")
    assert [e["outcomeDesc"] for e in reads] == ["allowed: read Patient"]
    assert found("AuditEvent?patient=4") == []
    assert found("AuditEvent?entity=Patient/4") == []
    assert found("Patient/4/AuditEvent") == []
    assert [e["id"] for e in found("Patient/3/AuditEvent?action=R")] == [reads[0]["id"]]
    counted = client.get("/fhir/AuditEvent?patient=4&_summary=count", headers=me).get_json()
    assert counted["total"] == 0
