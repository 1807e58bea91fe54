"""Searching several types at once: ``GET [base]?_type=A,B`` (http.html#search)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from fhir_gateway.his import schema as t
from tests.fhir.helpers import ids, search, walk
from tests.smart_auth.test_oauth_fixtures import launch, oauth_app

__all__ = ["oauth_app"]


@pytest.fixture(scope="module")
def busy_patient(his_engine: sa.Engine) -> int:
    lr = t.lab_result
    stmt = sa.select(lr.c.patient_id).group_by(lr.c.patient_id).order_by(sa.func.count().desc())
    with his_engine.connect() as conn:
        return int(conn.execute(stmt.limit(1)).scalar_one())


def _typed(resources: list[dict[str, Any]]) -> list[str]:
    return [f"{r['resourceType']}/{r['id']}" for r in resources]


def test_types_are_searched_in_turn_through_the_pages(client: Any) -> None:
    expected = [f"Patient/{i}" for i in ids(walk(client, "Patient?_count=1000"))]
    expected += [f"Encounter/{i}" for i in ids(walk(client, "Encounter?_count=1000"))]
    assert _typed(walk(client, "/fhir?_type=Patient,Encounter&_count=13")) == expected
    assert _typed(walk(client, "/fhir?_type=Patient&_type=Encounter&_count=500")) == expected
    counted = search(client, "/fhir?_type=Patient,Encounter&_count=0")
    assert counted["total"] == len(expected)
    assert "entry" not in counted
    assert search(client, "/fhir?_type=Patient,Encounter&_summary=count")["total"] == len(expected)


def test_common_parameters_apply_to_every_type(client: Any, busy_patient: int) -> None:
    expected = _typed(walk(client, f"Observation?patient={busy_patient}&_count=1000"))
    expected += _typed(walk(client, f"Encounter?patient={busy_patient}&_count=1000"))
    expected += [f"Patient/{busy_patient}"]
    found = walk(
        client, f"/fhir?_type=Observation,Encounter,Patient&patient={busy_patient}&_count=9"
    )
    assert _typed(found) == expected
    by_id = walk(client, f"/fhir?_type=Patient,Encounter&_id={busy_patient}")
    assert {r["resourceType"] for r in by_id} <= {"Patient", "Encounter"}
    assert all(r["id"] == str(busy_patient) for r in by_id)
    assert walk(client, "/fhir?_type=Patient,Observation&_lastUpdated=gt2999") == []
    post = client.post("/fhir/_search", data={"_type": "Patient", "_id": str(busy_patient)})
    assert post.status_code == 200
    assert [e["resource"]["id"] for e in post.get_json(force=True)["entry"]] == [str(busy_patient)]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "invalid"),
        ("?_id=1", "invalid"),
        ("?_type=Nonsense", "invalid"),
        ("?_type=Binary", "invalid"),
        ("?_type=AuditEvent", "invalid"),
        ("?_type=Patient,Practitioner&patient=1", "invalid"),
        ("?_type=Patient,Observation&_sort=_id", "not-supported"),
        ("?_type=Observation&_include=Observation:patient", "not-supported"),
        ("?_type=Observation&_filter=code eq x", "not-supported"),
        ("?_type=Observation&code=x", "not-supported"),
        ("?_type=Observation&subject.name=x", "not-supported"),
    ],
)
def test_what_a_search_of_several_types_refuses(client: Any, query: str, code: str) -> None:
    r = client.get(f"/fhir{query}")
    assert r.status_code == 400, (query, r.get_data(as_text=True)[:300])
    assert r.get_json(force=True)["issue"][0]["code"] == code


def test_unknown_parameters_are_reported_or_refused_on_request(client: Any) -> None:
    bundle = search(client, "/fhir?_type=Patient&shoe-size=44&_count=1")
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "shoe-size" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    strict = client.get("/fhir?_type=Patient&shoe-size=44", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400


def test_each_type_as_far_as_the_grant_covers_it(oauth_app: Flask) -> None:
    done = launch(oauth_app, scope="launch/patient patient/Observation.rs", patients=((3, "self"),))
    headers = {"Authorization": f"Bearer {done['token']['access_token']}"}
    client = oauth_app.test_client()
    answer = client.get("/fhir?_type=Observation,Encounter&_count=500", headers=headers)
    assert answer.status_code == 200
    entries = answer.get_json()["entry"]
    matches = [e["resource"] for e in entries if e["search"]["mode"] == "match"]
    assert matches
    assert {r["resourceType"] for r in matches} == {"Observation"}
    assert all(r["subject"]["reference"] == "Patient/3" for r in matches)
    warnings = [e["resource"] for e in entries if e["search"]["mode"] == "outcome"]
    assert "Encounter" in warnings[0]["issue"][0]["diagnostics"]
    assert client.get("/fhir?_type=Encounter", headers=headers).status_code == 403
    other = client.get("/fhir?_type=Observation&patient=4", headers=headers)
    assert other.status_code == 200
    assert "entry" not in other.get_json()
    counted = client.get("/fhir?_type=Observation,Encounter&_count=0", headers=headers)
    assert counted.get_json()["total"] == len(matches)
