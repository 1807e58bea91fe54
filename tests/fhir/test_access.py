"""Scope-limited grants over every interaction: compartments, types, query-filtered scopes.

Each client carries a real SMART access token of the patient's own account, launched for the
scopes under test through the authorization server (``tests.credentials``); each check is
about what leaves the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as t
from gateway.app import create_app
from tests.conftest import app_config
from tests.credentials import patient_client
from tests.fhir.helpers import ids, link, local, search, walk

V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"


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


@pytest.fixture(scope="module")
def gateway(his_url: str) -> Iterator[Any]:
    """The gateway with authorization on (no development open access)."""
    app = create_app(app_config(his_url, dev_open_access=False))
    yield app
    app.extensions["state_engine"].dispose()


@pytest.fixture
def client_for(gateway):  # type: ignore[no-untyped-def]
    """``client_for(scopes, patient)``: a client with the patient's token for ``scopes``."""

    def build(scopes: str, patient: int):  # type: ignore[no-untyped-def]
        return patient_client(gateway, patient, scopes)

    return build


def test_patient_grant_sees_only_its_compartment(client_for, two_patients):
    me, other = two_patients
    c = client_for("patient/*.rs", me)
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


def test_everything_and_includes_stay_in_the_compartment(client_for, two_patients):
    me, other = two_patients
    c = client_for("patient/*.rs", me)
    assert c.get(f"/fhir/Patient/{other}/$everything").status_code == 404
    bundle = search(c, f"/fhir/Patient/{me}/$everything?_count=1000")
    for entry in bundle["entry"]:
        subject = entry["resource"].get("subject") or entry["resource"].get("patient")
        if subject:
            assert subject["reference"] == f"Patient/{me}"
    # a revinclude from another patient's encounter finds nothing
    assert walk(c, f"Encounter?patient={other}&_revinclude=DiagnosticReport:encounter") == []


def test_types_outside_the_scopes_are_403_not_an_empty_200(client_for, two_patients):
    me, _ = two_patients
    c = client_for("patient/Observation.rs patient/Patient.r", me)
    assert c.get("/fhir/Encounter").status_code == 403
    assert c.get(f"/fhir/Patient/{me}").status_code == 200
    assert c.get("/fhir/Patient").status_code == 403  # r without s: no search
    obs = search(c, "/fhir/Observation?_count=3&_include=Observation:patient")
    included = [e for e in obs["entry"] if e["search"]["mode"] == "include"]
    assert [e["resource"]["resourceType"] for e in included] == ["Patient"]
    enc = c.get("/fhir/Observation?_count=3&_revinclude=DiagnosticReport:result")
    assert all(e["search"]["mode"] != "include" for e in enc.get_json(force=True)["entry"])


def test_query_filtered_scopes_apply_everywhere(client_for, his_engine, two_patients):
    """Search, read, revinclude and $everything all honour the filter."""
    me, _ = two_patients
    lab_only = (
        f"patient/DiagnosticReport.rs?category={V2_0074}|LAB "
        "patient/Encounter.rs patient/Patient.rs"
    )
    c = client_for(lab_only, me)
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
    unfiltered = client_for("patient/*.rs", me)
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


def test_several_filtered_scopes_or_together(client_for, two_patients):
    me, _ = two_patients
    both = (
        f"patient/DiagnosticReport.rs?category={V2_0074}|LAB "
        f"patient/DiagnosticReport.rs?category={V2_0074}|RAD"
    )
    c = client_for(both, me)
    kinds = {r["id"].split("-")[0] for r in walk(c, "DiagnosticReport?_count=100")}
    assert "lab" in kinds
    assert "para" not in kinds
    unfiltered = client_for(f"{both} patient/DiagnosticReport.rs", me)
    all_kinds = {r["id"].split("-")[0] for r in walk(unfiltered, "DiagnosticReport?_count=100")}
    assert kinds <= all_kinds


def test_a_filter_the_type_cannot_apply_matches_nothing(client_for, two_patients):
    me, _ = two_patients
    c = client_for("patient/Observation.rs?shoe-size=44", me)
    assert walk(c, "Observation?_count=10") == []


def test_patient_level_grant_without_patient_context_is_refused(gateway):
    """A patient-level grant must never fall back to every patient: the authorization server
    issues no patient-scoped token without a patient context (an account of no patient asks),
    and the one decision point refuses such a grant should one reach it."""
    from access.errors import ApiError
    from access.policy import Grant
    from access.scopes import levels_for, parse_scopes
    from tests.credentials import REGISTERED, with_test_sign_in
    from tests.smart_auth.test_oauth_fixtures import (
        REDIRECT,
        add_account,
        authorize_params,
        get_code,
        pkce,
    )

    with_test_sign_in(gateway)
    account = add_account(gateway)  # holds no patient
    store = gateway.extensions["smart_oauth"].store
    client_id, _ = store.register_client(
        name="Test App", kind="app", auth_method="none", scope=REGISTERED, redirect_uris=(REDIRECT,)
    )
    browser = gateway.test_client()
    browser.get(f"/_test/sign-in/{account}")
    _, challenge = pkce()
    query = get_code(browser, authorize_params(client_id, challenge, "openid patient/*.rs"))
    assert "code" not in query
    assert query.get("error"), query
    policy = gateway.extensions["access_policy"]
    contextless = Grant(
        subject="patient-user",
        client_id=client_id,
        patients=None,
        scopes=parse_scopes("patient/*.rs"),
        levels=levels_for("patient"),
    )
    for rtype, interaction in (("Observation", "search"), ("Patient", "read")):
        with pytest.raises(ApiError, match="patient context") as refused:
            policy.decide(contextless, rtype, interaction)
        assert refused.value.status == 403


def test_paging_links_are_bound_to_the_scopes(client_for, two_patients):
    me, _ = two_patients
    wide = client_for("patient/*.rs", me)
    narrow = client_for("patient/Observation.rs", me)
    nxt = link(search(wide, "/fhir/Observation?_count=2"), "next")
    assert wide.get(local(nxt)).status_code == 200
    assert narrow.get(local(nxt)).status_code == 400
    assert ids(walk(narrow, "Observation?_count=500")) == ids(walk(wide, "Observation?_count=500"))
