"""Scope-limited grants over every interaction: compartments, types, query-filtered scopes.

The grants are built the way the authorization server will build them (``access.scopes``),
and handed to the app through an authenticator; each check is about what leaves the gateway.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from access.policy import Grant
from access.scopes import levels_for, parse_scopes
from fhir_gateway.his import schema as t
from gateway.app import create_app
from tests.conftest import app_config
from tests.fhir.helpers import ids, link, local, search, walk

V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"


class Fixed:
    def __init__(self, grant: Grant) -> None:
        self.grant = grant

    def authenticate(self, headers):  # type: ignore[no-untyped-def]
        return self.grant


@pytest.fixture(scope="module")
def two_patients(his_engine: sa.Engine) -> tuple[int, int]:
    """Two patients who both have lab bulletins and paraclinical tests."""
    lb, pt = t.lab_bulletin, t.paraclinical_test
    stmt = (
        sa.select(lb.c.patient_id)
        .where(lb.c.patient_id.in_(sa.select(pt.c.patient_id)))
        .group_by(lb.c.patient_id)
        .order_by(sa.func.count().desc(), lb.c.patient_id)
    )
    with his_engine.connect() as conn:
        rows = [r[0] for r in conn.execute(stmt.limit(2))]
    return rows[0], rows[1]


def client_for(his_url: str, scopes: str, patient: int | None):  # type: ignore[no-untyped-def]
    grant = Grant(
        subject="patient-user",
        client_id="app",
        patients=frozenset({patient}) if patient is not None else None,
        scopes=parse_scopes(scopes),
        levels=levels_for("patient"),
    )
    app = create_app(app_config(his_url, dev_open_access=False), authenticator=Fixed(grant))
    return app.test_client()


def test_patient_grant_sees_only_its_compartment(his_url, two_patients):
    me, other = two_patients
    c = client_for(his_url, "patient/*.rs", me)
    assert c.get(f"/fhir/Patient/{me}").status_code == 200
    mine = c.get(f"/fhir/Patient/{other}")
    missing = c.get("/fhir/Patient/999999999")
    assert mine.status_code == missing.status_code == 404
    assert mine.get_json(force=True)["issue"][0]["code"] == "not-found"
    for rtype in ("Observation", "Encounter", "DiagnosticReport", "DocumentReference"):
        found = walk(c, f"{rtype}?_count=200")
        assert found, rtype
        assert {r["subject"]["reference"] for r in found} == {f"Patient/{me}"}, rtype
        assert walk(c, f"{rtype}?patient={other}") == []
    assert walk(c, "Patient?_count=50") == [walk(c, f"Patient?_id={me}")[0]]


def test_everything_and_includes_stay_in_the_compartment(his_url, two_patients):
    me, other = two_patients
    c = client_for(his_url, "patient/*.rs", me)
    assert c.get(f"/fhir/Patient/{other}/$everything").status_code == 404
    bundle = search(c, f"/fhir/Patient/{me}/$everything?_count=1000")
    for entry in bundle["entry"]:
        subject = entry["resource"].get("subject") or entry["resource"].get("patient")
        if subject:
            assert subject["reference"] == f"Patient/{me}"
    # a revinclude from another patient's encounter finds nothing
    assert walk(c, f"Encounter?patient={other}&_revinclude=DiagnosticReport:encounter") == []


def test_types_outside_the_scopes_are_403_not_an_empty_200(his_url, two_patients):
    me, _ = two_patients
    c = client_for(his_url, "patient/Observation.rs patient/Patient.r", me)
    assert c.get("/fhir/Encounter").status_code == 403
    assert c.get(f"/fhir/Patient/{me}").status_code == 200
    assert c.get("/fhir/Patient").status_code == 403  # r without s: no search
    obs = search(c, "/fhir/Observation?_count=3&_include=Observation:patient")
    included = [e for e in obs["entry"] if e["search"]["mode"] == "include"]
    assert [e["resource"]["resourceType"] for e in included] == ["Patient"]
    enc = c.get("/fhir/Observation?_count=3&_revinclude=DiagnosticReport:result")
    assert all(e["search"]["mode"] != "include" for e in enc.get_json(force=True)["entry"])


def test_query_filtered_scopes_apply_everywhere(his_url, his_engine, two_patients):
    """Search, read, revinclude and $everything all honour the filter."""
    me, _ = two_patients
    lab_only = (
        f"patient/DiagnosticReport.rs?category={V2_0074}|LAB "
        "patient/Encounter.rs patient/Patient.rs"
    )
    c = client_for(his_url, lab_only, me)
    reports = walk(c, "DiagnosticReport?_count=100")
    assert reports
    assert all(r["id"].startswith("lab-") for r in reports)
    with his_engine.connect() as conn:
        para = conn.execute(
            sa.select(t.paraclinical_test.c.id)
            .where(t.paraclinical_test.c.patient_id == me)
            .limit(1)
        ).scalar()
        episode = conn.execute(
            sa.select(t.lab_bulletin.c.episode_id)
            .where(t.lab_bulletin.c.patient_id == me, t.lab_bulletin.c.episode_id.is_not(None))
            .limit(1)
        ).scalar()
    unfiltered = client_for(his_url, "patient/*.rs", me)
    assert unfiltered.get(f"/fhir/DiagnosticReport/para-{para}").status_code == 200
    assert c.get(f"/fhir/DiagnosticReport/para-{para}").status_code == 404
    assert c.get(f"/fhir/{reports[0]['resourceType']}/{reports[0]['id']}").status_code == 200
    rev = search(c, f"/fhir/Encounter?_id={episode}&_revinclude=DiagnosticReport:encounter")
    assert all(
        e["resource"]["id"].startswith("lab-")
        for e in rev["entry"]
        if e["search"]["mode"] == "include"
    )
    every = search(c, f"/fhir/Patient/{me}/$everything?_count=1000")
    kinds = {
        e["resource"]["id"].split("-")[0]
        for e in every["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    }
    assert kinds <= {"lab"}


def test_several_filtered_scopes_or_together(his_url, two_patients):
    me, _ = two_patients
    both = (
        f"patient/DiagnosticReport.rs?category={V2_0074}|LAB "
        f"patient/DiagnosticReport.rs?category={V2_0074}|RAD"
    )
    c = client_for(his_url, both, me)
    kinds = {r["id"].split("-")[0] for r in walk(c, "DiagnosticReport?_count=100")}
    assert "lab" in kinds
    assert "para" not in kinds
    unfiltered = client_for(his_url, f"{both} patient/DiagnosticReport.rs", me)
    all_kinds = {r["id"].split("-")[0] for r in walk(unfiltered, "DiagnosticReport?_count=100")}
    assert kinds <= all_kinds


def test_a_filter_the_type_cannot_apply_matches_nothing(his_url, two_patients):
    me, _ = two_patients
    c = client_for(his_url, "patient/Observation.rs?shoe-size=44", me)
    assert walk(c, "Observation?_count=10") == []


def test_patient_level_grant_without_patient_context_is_refused(his_url):
    c = client_for(his_url, "patient/*.rs", None)
    assert c.get("/fhir/Observation").status_code == 403
    assert c.get("/fhir/Patient/1").status_code == 403


def test_paging_links_are_bound_to_the_scopes(his_url, two_patients):
    me, _ = two_patients
    wide = client_for(his_url, "patient/*.rs", me)
    narrow = client_for(his_url, "patient/Observation.rs", me)
    nxt = link(search(wide, "/fhir/Observation?_count=2"), "next")
    assert wide.get(local(nxt)).status_code == 200
    assert narrow.get(local(nxt)).status_code == 400
    assert ids(walk(narrow, "Observation?_count=500")) == ids(walk(wide, "Observation?_count=500"))
