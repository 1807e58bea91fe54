"""Search semantics, parameter by parameter, against the HIS itself as the ground truth.

Each case is a FHIR search and the SQL that says which HIS rows must come back; the search is
walked through all its pages and the ids compared exactly (no more, no fewer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as t
from mappers import codes
from tests.conftest import TODAY
from tests.fhir.helpers import ids, search, walk

S = sa.select
P, EP, LR, LB, PT, IO, DOC = (
    t.patient,
    t.episode,
    t.lab_result,
    t.lab_bulletin,
    t.paraclinical_test,
    t.imaging_order,
    t.document,
)


def _one(engine: sa.Engine, stmt: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(stmt).first()


def _ids(engine: sa.Engine, stmt: Any, prefix: str = "") -> list[str]:
    with engine.connect() as conn:
        return sorted(f"{prefix}{row[0]}" for row in conn.execute(stmt))


@pytest.fixture(scope="module")
def busy_patient(his_engine: sa.Engine) -> int:
    """The patient with the most lab results."""
    stmt = S(LR.c.patient_id).group_by(LR.c.patient_id).order_by(sa.func.count().desc()).limit(1)
    return _one(his_engine, stmt)[0]


Case = Callable[[sa.Engine, int], tuple[str, Any, str]]


def _cases() -> dict[str, Case]:
    y = TODAY.year
    return {
        "gender token": lambda e, p: (
            "Patient?gender=female",
            S(P.c.id).where(P.c.gender == "F"),
            "",
        ),
        "gender with system": lambda e, p: (
            "Patient?gender=http://hl7.org/fhir/administrative-gender|male",
            S(P.c.id).where(P.c.gender == "M"),
            "",
        ),
        "gender :not": lambda e, p: (
            "Patient?gender:not=female",
            S(P.c.id).where(P.c.gender != "F"),
            "",
        ),
        "birthdate range": lambda e, p: (
            "Patient?birthdate=ge1970&birthdate=lt1990-06",
            S(P.c.id).where(
                P.c.birth_date >= dt.date(1970, 1, 1), P.c.birth_date < dt.date(1990, 6, 1)
            ),
            "",
        ),
        "birthdate eq day": lambda e, p: (
            f"Patient?birthdate={_one(e, S(P.c.birth_date).where(P.c.id == p))[0].isoformat()}",
            S(P.c.id).where(P.c.birth_date == _one(e, S(P.c.birth_date).where(P.c.id == p))[0]),
            "",
        ),
        "_id list": lambda e, p: (
            f"Patient?_id={p},{p + 1},nonsense",
            S(P.c.id).where(P.c.id.in_([p, p + 1])),
            "",
        ),
        "family prefix, case-insensitive, diacritics": lambda e, p: _family_case(e, p),
        "family :exact": lambda e, p: (
            f"Patient?family:exact={_one(e, S(P.c.family).where(P.c.id == p))[0]}",
            S(P.c.id).where(P.c.family == _one(e, S(P.c.family).where(P.c.id == p))[0]),
            "",
        ),
        "encounters of a patient in a year (period overlap)": lambda e, p: (
            f"Encounter?patient=Patient/{p}&date=ge{y - 2}-01-01&date=lt{y - 1}-01-01",
            S(EP.c.id).where(
                EP.c.patient_id == p,
                EP.c.started_at < dt.datetime(y - 1, 1, 1),
                sa.or_(EP.c.ended_at.is_(None), EP.c.ended_at >= dt.datetime(y - 2, 1, 1)),
            ),
            "",
        ),
        "encounter class inpatient": lambda e, p: (
            f"Encounter?class={codes.V3_ACT_CODE}|IMP",
            S(EP.c.id).where(EP.c.kind.in_(["HOSP", "CONS"])),
            "",
        ),
        "encounter status finished": lambda e, p: (
            "Encounter?status=finished",
            S(EP.c.id).where(EP.c.status == "closed"),
            "",
        ),
        "encounter part-of present": lambda e, p: (
            "Encounter?part-of:missing=false",
            S(EP.c.id).where(EP.c.parent_id.is_not(None)),
            "",
        ),
        "lab observations of a patient": lambda e, p: (
            f"Observation?patient={p}&category=laboratory",
            S(LR.c.id).where(LR.c.patient_id == p),
            "",
        ),
        "observations by LOINC": lambda e, p: (
            f"Observation?subject=Patient/{p}&code=http://loinc.org|{codes.ANALYTE_LOINC['GLU'][0]}",
            S(LR.c.id).where(LR.c.patient_id == p, LR.c.analyte_code == "GLU"),
            "",
        ),
        "observations by date prefix": lambda e, p: (
            f"Observation?patient={p}&date=lt{y - 1}-03",
            S(LR.c.id).where(LR.c.patient_id == p, LR.c.observed_at < dt.datetime(y - 1, 3, 1)),
            "",
        ),
        "no imaging observations": lambda e, p: (
            f"Observation?patient={p}&category=imaging",
            S(LR.c.id).where(sa.false()),
            "",
        ),
        "lab reports": lambda e, p: (
            f"DiagnosticReport?patient={p}&category=LAB",
            S(LB.c.id).where(LB.c.patient_id == p),
            "lab-",
        ),
        "radiology reports": lambda e, p: (
            "DiagnosticReport?category=RAD",
            S(IO.c.id).where(IO.c.reported_at.is_not(None)),
            "rad-",
        ),
        "report of a result": lambda e, p: _report_of_result(e, p),
        "discharge letters by LOINC": lambda e, p: (
            f"DocumentReference?type=http://loinc.org|{codes.DOCUMENT_KIND_LOINC['DISCHARGE'][0]}",
            S(DOC.c.id).where(DOC.c.kind == "DISCHARGE"),
            "",
        ),
        "CT studies": lambda e, p: (
            "ImagingStudy?modality=CT",
            S(IO.c.id).where(IO.c.modality == "CT", IO.c.study_uid.is_not(None)),
            "",
        ),
        "free future slots": lambda e, p: (
            f"Slot?status=free&start=ge{TODAY.isoformat()}",
            S(t.slot.c.id).where(
                t.slot.c.status == "free",
                t.slot.c.start_at >= dt.datetime.combine(TODAY, dt.time()),
            ),
            "",
        ),
        "completed questionnaire answers": lambda e, p: (
            "QuestionnaireResponse?status=completed",
            S(t.questionnaire_assignment.c.id).where(
                t.questionnaire_assignment.c.status == "submitted"
            ),
            "",
        ),
    }


def _family_case(e: sa.Engine, p: int) -> tuple[str, Any, str]:
    with e.connect() as conn:
        rows = conn.execute(S(P.c.id, P.c.family)).all()
    family = next(f for _, f in rows if not f.isascii())
    prefix = family[:4].upper()
    want = [pid for pid, f in rows if f.lower().startswith(prefix.lower())]
    return f"Patient?family={prefix}", S(P.c.id).where(P.c.id.in_(want)), ""


def _report_of_result(e: sa.Engine, p: int) -> tuple[str, Any, str]:
    rid, bid = _one(e, S(LR.c.id, LR.c.bulletin_id).where(LR.c.patient_id == p).limit(1))
    return f"DiagnosticReport?result=Observation/{rid}", S(LB.c.id).where(LB.c.id == bid), "lab-"


@pytest.mark.parametrize("name", list(_cases()))
def test_search_matches_the_his(client, his_engine, busy_patient, name):
    path, stmt, prefix = _cases()[name](his_engine, busy_patient)
    expected = _ids(his_engine, stmt, prefix)
    got = sorted(ids(walk(client, f"/fhir/{path}&_count=50")))
    assert got == expected, name


def test_patient_identifiers_by_national_id_and_mrn(client, his_engine):
    from gateway.settings import Settings

    settings = Settings.from_mapping(environ=False)
    for kind, system in (("CNP", settings.cnp_system), ("PESEL", settings.pesel_system)):
        row = _one(
            his_engine, S(P.c.id, P.c.national_id, P.c.mrn).where(P.c.national_id_kind == kind)
        )
        assert row is not None, f"the demo HIS has {kind} patients"
        pid, national_id, mrn = row
        assert ids(walk(client, f"/fhir/Patient?identifier={system}|{national_id}")) == [str(pid)]
        assert ids(walk(client, f"/fhir/Patient?identifier={national_id}")) == [str(pid)]
        assert ids(walk(client, f"/fhir/Patient?identifier={mrn}")) == [str(pid)]
        other = settings.pesel_system if kind == "CNP" else settings.cnp_system
        assert walk(client, f"/fhir/Patient?identifier={other}|{national_id}") == []


def test_sort_by_date_both_ways(client, busy_patient):
    asc = walk(client, f"Observation?patient={busy_patient}&_sort=date&_count=17")
    desc = walk(client, f"Observation?patient={busy_patient}&_sort=-date&_count=17")
    dates = [o["effectiveDateTime"] for o in asc]
    assert dates == sorted(dates)
    assert [o["effectiveDateTime"] for o in desc] == sorted(dates, reverse=True)
    assert sorted(ids(asc)) == sorted(ids(desc))


def test_summary_count_and_total(client, his_engine, busy_patient):
    expected = len(_ids(his_engine, S(LR.c.id).where(LR.c.patient_id == busy_patient)))
    counted = search(client, f"/fhir/Observation?patient={busy_patient}&_summary=count")
    assert counted["total"] == expected
    assert "entry" not in counted
    with_total = search(
        client, f"/fhir/Observation?patient={busy_patient}&_total=accurate&_count=1"
    )
    assert with_total["total"] == expected
    assert len(with_total["entry"]) == 1


def test_elements_subsets_and_tags(client):
    bundle = search(client, "/fhir/Patient?_elements=gender,birthDate&_count=3")
    for entry in bundle["entry"]:
        r = entry["resource"]
        assert set(r) <= {"resourceType", "id", "meta", "gender", "birthDate"}
        assert {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "SUBSETTED",
        } in r["meta"]["tag"]


def test_post_search_equals_get(client, busy_patient):
    get = search(client, f"/fhir/Observation?patient={busy_patient}&_count=5")
    post = client.post(
        "/fhir/Observation/_search", data={"patient": str(busy_patient), "_count": "5"}
    )
    assert post.status_code == 200
    assert ids([e["resource"] for e in post.get_json(force=True)["entry"]]) == ids(
        [e["resource"] for e in get["entry"]]
    )
    bad = client.post("/fhir/Observation/_search", data=b"{}", content_type="application/json")
    assert bad.status_code == 415


def test_lenient_search_reports_ignored_parameters(client):
    bundle = search(client, "/fhir/Patient?shoe-size=44&_count=1")
    self_link = bundle["link"][0]["url"]
    assert "shoe-size" not in self_link
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "shoe-size" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    strict = client.get("/fhir/Patient?shoe-size=44", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert strict.get_json(force=True)["issue"][0]["code"] == "not-supported"


def test_includes_bring_the_referenced_resources(client, busy_patient):
    bundle = search(
        client,
        f"/fhir/DiagnosticReport?patient={busy_patient}&category=LAB&_count=2"
        "&_include=DiagnosticReport:result&_include=DiagnosticReport:patient",
    )
    matches = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    included = {
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in bundle["entry"]
        if e["search"]["mode"] == "include"
    }
    wanted = {tuple(ref["reference"].split("/")) for r in matches for ref in r.get("result", [])}
    assert wanted
    assert wanted <= included
    assert ("Patient", str(busy_patient)) in included


def test_revinclude_brings_reports_of_encounters(client, his_engine):
    eid = _one(his_engine, S(LB.c.episode_id).where(LB.c.episode_id.is_not(None)).limit(1))[0]
    bundle = search(client, f"/fhir/Encounter?_id={eid}&_revinclude=DiagnosticReport:encounter")
    included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert included
    assert all(r["encounter"]["reference"] == f"Encounter/{eid}" for r in included)
    expected = _ids(his_engine, S(LB.c.id).where(LB.c.episode_id == eid), "lab-")
    assert expected <= sorted(r["id"] for r in included)


@pytest.mark.parametrize(
    "query",
    [
        "_filter=gender eq female",
        "_query=my-query",
        "_list=List/1",
        "_text=diabetes",
        "_content=diabetes",
        "_contained=true",
        "_containedType=container",
        "_tag=http://example.org|x",
        "_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R",
        "_type=Observation",
        "address-city=Paris",
        "general-practitioner=Practitioner/1",
        "family:text=ab",
        "gender:in=http://example.org/vs",
    ],
)
def test_standard_parameters_not_served_are_refused_even_when_lenient(client, query):
    """Ignoring them would answer more than asked for: 400 not-supported without strict."""
    r = client.get(f"/fhir/Patient?{query}")
    assert r.status_code == 400, (query, r.get_data(as_text=True)[:300])
    outcome = r.get_json(force=True)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-supported"
    post = client.post("/fhir/Patient/_search", data=dict([query.split("=", 1)]))
    assert post.status_code == 400


def test_count_zero_answers_the_total_only(client, his_engine):
    expected = len(_ids(his_engine, S(P.c.id).where(P.c.gender == "F")))
    bundle = search(client, "/fhir/Patient?gender=female&_count=0")
    assert bundle["total"] == expected
    assert "entry" not in bundle
