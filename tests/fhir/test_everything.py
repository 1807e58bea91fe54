"""Patient/$everything: the whole compartment, paged, with _type and _since."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as t
from tests.fhir.helpers import link, local, search


def _patient_with_most(engine: sa.Engine) -> int:
    lr = t.lab_result
    stmt = (
        sa.select(lr.c.patient_id)
        .group_by(lr.c.patient_id)
        .order_by(sa.func.count().desc())
        .limit(1)
    )
    with engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def _everything(client, path: str) -> tuple[list[dict], list[dict]]:
    matches, included = [], []
    bundle = search(client, path)
    while True:
        for e in bundle.get("entry", []):
            (matches if e["search"]["mode"] == "match" else included).append(e["resource"])
        nxt = link(bundle, "next")
        if not nxt:
            return matches, included
        bundle = search(client, local(nxt))


def test_everything_is_the_compartment(client, his_engine):
    pid = _patient_with_most(his_engine)
    matches, included = _everything(client, f"/fhir/Patient/{pid}/$everything?_count=40")
    types = {r["resourceType"] for r in matches}
    assert {"Patient", "Encounter", "Observation", "DiagnosticReport"} <= types
    # nothing twice, and the counts match the compartment searches
    keys = [(r["resourceType"], r["id"]) for r in matches]
    assert len(keys) == len(set(keys))
    for rtype in ("Observation", "Encounter", "DocumentReference", "DiagnosticReport"):
        n = search(client, f"/fhir/{rtype}?patient={pid}&_summary=count")["total"]
        assert sum(1 for r in matches if r["resourceType"] == rtype) == n, rtype
    # every resource belongs to the patient
    for r in matches:
        subject = r.get("subject") or r.get("patient")
        if subject:
            assert subject["reference"] == f"Patient/{pid}"
    # referenced practitioners come along as includes
    assert any(r["resourceType"] == "Practitioner" for r in included)


def test_everything_type_and_since(client, his_engine):
    pid = _patient_with_most(his_engine)
    matches, _ = _everything(client, f"/fhir/Patient/{pid}/$everything?_type=Observation,Encounter")
    assert {r["resourceType"] for r in matches} == {"Observation", "Encounter"}
    future, _ = _everything(client, f"/fhir/Patient/{pid}/$everything?_since=2100-01-01")
    assert future == []


def test_everything_of_unknown_patient_is_404(client):
    assert client.get("/fhir/Patient/999999999/$everything").status_code == 404


@pytest.mark.parametrize(
    "query", ["start=2020-01-01", "end=2020-01-01", "_filter=x", "_elements=id"]
)
def test_everything_refuses_what_it_would_otherwise_ignore(client, query):
    r = client.get(f"/fhir/Patient/1/$everything?{query}")
    assert r.status_code == 400, query
    assert r.get_json(force=True)["issue"][0]["code"] == "not-supported"
