"""Compartment search: ``Patient/[id]/[type]`` is ``[type]?patient=[id]`` (search.html#compartments,
compartmentdefinition-patient.html), narrowed by the grant like any search."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from access.compartment import PATIENT_COMPARTMENT
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


@pytest.mark.parametrize("rtype", [t for t in PATIENT_COMPARTMENT if t != "Patient"])
def test_compartment_search_is_the_search_by_patient(client: Any, busy_patient: int, rtype: str):
    by_param = walk(client, f"/fhir/{rtype}?patient={busy_patient}&_count=7")
    in_compartment = walk(client, f"/fhir/Patient/{busy_patient}/{rtype}?_count=7")
    assert ids(in_compartment) == ids(by_param)
    first = search(client, f"/fhir/Patient/{busy_patient}/{rtype}?_count=7")
    assert first["link"][0]["url"].endswith(f"/fhir/Patient/{busy_patient}/{rtype}?_count=7")


def test_compartment_search_takes_the_types_parameters(client: Any, busy_patient: int) -> None:
    query = "category=laboratory&_sort=-date&_count=5"
    expected = walk(client, f"/fhir/Observation?patient={busy_patient}&{query}")
    assert expected
    assert ids(walk(client, f"/fhir/Patient/{busy_patient}/Observation?{query}")) == ids(expected)
    post = client.post(
        f"/fhir/Patient/{busy_patient}/Observation/_search",
        data={"category": "laboratory", "_sort": "-date", "_count": "5"},
    )
    assert post.status_code == 200
    page = [e["resource"] for e in post.get_json(force=True)["entry"]]
    assert ids(page) == ids(expected)[:5]
    counted = search(
        client, f"/fhir/Patient/{busy_patient}/Observation?category=laboratory&_count=0"
    )
    assert counted["total"] == len(expected)


def test_the_patient_is_in_its_own_compartment(client: Any, busy_patient: int) -> None:
    found = walk(client, f"/fhir/Patient/{busy_patient}/Patient")
    assert ids(found) == [str(busy_patient)]


def test_paging_links_stay_in_their_compartment(client: Any, busy_patient: int) -> None:
    first = search(client, f"/fhir/Patient/{busy_patient}/Observation?_count=2")
    following = next(x["url"] for x in first["link"] if x["relation"] == "next")
    assert f"/Patient/{busy_patient}/Observation?" in following
    other = following.replace(f"/Patient/{busy_patient}/", f"/Patient/{busy_patient + 1}/")
    replayed = client.get(other.removeprefix("http://gateway.test"))
    assert replayed.status_code == 400


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/fhir/Patient/1/Practitioner", 400),
        ("/fhir/Patient/1/Organization", 400),
        ("/fhir/Patient/1/Medication", 404),
        ("/fhir/Encounter/1/Observation", 404),
    ],
)
def test_types_outside_the_compartment(client: Any, path: str, status: int) -> None:
    r = client.get(path)
    assert r.status_code == status
    assert r.get_json(force=True)["resourceType"] == "OperationOutcome"


def test_another_patients_compartment_answers_like_an_empty_one(oauth_app: Flask) -> None:
    done = launch(oauth_app, scope="launch/patient patient/*.rs", patients=((3, "self"),))
    headers = {"Authorization": f"Bearer {done['token']['access_token']}"}
    client = oauth_app.test_client()
    own = client.get("/fhir/Patient/3/Observation?_count=100", headers=headers)
    assert own.status_code == 200
    mine = [e["resource"] for e in own.get_json()["entry"]]
    assert mine
    assert all(r["subject"]["reference"] == "Patient/3" for r in mine)
    for other in ("4", "999999", "x"):
        for rtype in ("Observation", "*"):
            theirs = client.get(f"/fhir/Patient/{other}/{rtype}", headers=headers)
            assert theirs.status_code == 200
            assert "entry" not in theirs.get_json()
    counted = client.get("/fhir/Patient/4/Encounter?_summary=count", headers=headers)
    assert counted.get_json()["total"] == 0
    assert client.get("/fhir/Patient/3/Observation").status_code == 401


def test_every_type_of_the_compartment_at_once(client: Any, busy_patient: int) -> None:
    expected: list[str] = []
    for rtype in PATIENT_COMPARTMENT:
        found = walk(client, f"/fhir/Patient/{busy_patient}/{rtype}?_count=1000")
        expected += [f"{rtype}/{r['id']}" for r in found]
    everything = walk(client, f"/fhir/Patient/{busy_patient}/*?_count=11")
    assert [f"{r['resourceType']}/{r['id']}" for r in everything] == expected
    first = search(client, f"/fhir/Patient/{busy_patient}/*?_count=11")
    assert first["link"][0]["url"].endswith(f"/fhir/Patient/{busy_patient}/*?_count=11")
    some = walk(client, f"/fhir/Patient/{busy_patient}/*?_type=Encounter,Patient")
    assert [r["resourceType"] for r in some][-1] == "Patient"
    assert {r["resourceType"] for r in some} == {"Encounter", "Patient"}
    counted = search(client, f"/fhir/Patient/{busy_patient}/*?_count=0")
    assert counted["total"] == len(expected)
