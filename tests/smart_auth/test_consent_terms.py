"""A patient's Consent to a partner clinic means what it says (F25), through the production
authenticators: the patient's own SMART token creates it, the partner's backend-services token
(client_credentials with a private_key_jwt assertion) sees what it covers and nothing more.

The partner must be a registered, active partner client; ``provision.period`` bounds what the
partner sees at every request; ``provision.class`` and ``provision.data`` narrow it per patient,
on read, search, _include/_revinclude, $everything and Binary; any provision element the gateway
cannot honour exactly is refused with 422 naming it; and only a grant acting for the patient may
create or withdraw.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fhir.resources.R4B.consent import Consent as ConsentModel
from flask import Flask
from jsonschema import validators

from dicomweb.viewer_tokens import ViewerClaim
from fhir_gateway.his.schema import document, lab_bulletin, lab_result
from fhir_gateway.his.sql import make_engine
from gateway.app import create_app
from smart_auth.sharing import service
from tests.conftest import SHARED_R4, app_config
from tests.smart_auth.test_backend_services import _assertion, _partner, _rsa, _token
from tests.smart_auth.test_oauth_fixtures import (
    APP_SCOPE,
    add_account,
    add_app,
    authorize_params,
    exchange,
    get_code,
    oauth_app,
    pkce,
    store_of,
)

__all__ = ["oauth_app"]
SYSTEM = "https://his.hospital.example/fhir/sid/oauth-client"
TYPES = "http://hl7.org/fhir/resource-types"
CONSENT_SCOPE = "launch/patient openid fhirUser patient/*.rs patient/Consent.crus"

Auth = dict[str, str]


@dataclass(frozen=True)
class World:
    """Two patients of the seeded HIS and some of their records."""

    p1: int
    bulletin: str  # DiagnosticReport id of a lab bulletin of p1 with a PDF
    bulletin_file: str  # that PDF's Binary id
    bulletin_results: tuple[str, ...]  # Observation ids of that bulletin
    other_result: str  # an Observation of p1 outside that bulletin
    document: str  # a DocumentReference id of p1 (not the bulletin's PDF)
    other_document: str  # another one of p1
    p2: int


@pytest.fixture(scope="module")
def world(sqlite_his: str) -> World:
    engine = make_engine(sqlite_his)
    b, r, d = lab_bulletin, lab_result, document
    try:
        with engine.connect() as conn:
            bulletins = conn.execute(
                sa.select(b.c.id, b.c.patient_id, b.c.document_id)
                .where(b.c.document_id.is_not(None))
                .order_by(b.c.id)
            ).all()
            for row in bulletins:
                results = (
                    conn.execute(
                        sa.select(r.c.id).where(r.c.bulletin_id == row.id).order_by(r.c.id)
                    )
                    .scalars()
                    .all()
                )
                other = conn.execute(
                    sa.select(r.c.id).where(
                        r.c.patient_id == row.patient_id, r.c.bulletin_id != row.id
                    )
                ).scalar()
                docs = (
                    conn.execute(
                        sa.select(d.c.id)
                        .where(d.c.patient_id == row.patient_id, d.c.id != row.document_id)
                        .order_by(d.c.id)
                    )
                    .scalars()
                    .all()
                )
                if len(results) >= 2 and other is not None and len(docs) >= 2:
                    p2 = conn.execute(
                        sa.select(r.c.patient_id)
                        .where(r.c.patient_id != row.patient_id)
                        .join(d, d.c.patient_id == r.c.patient_id)
                        .order_by(r.c.patient_id)
                    ).scalar()
                    assert p2 is not None
                    return World(
                        p1=row.patient_id,
                        bulletin=f"lab-{row.id}",
                        bulletin_file=str(row.document_id),
                        bulletin_results=tuple(str(i) for i in results),
                        other_result=str(other),
                        document=str(docs[0]),
                        other_document=str(docs[1]),
                        p2=int(p2),
                    )
    finally:
        engine.dispose()
    raise AssertionError("the test HIS has no patient with a bulletin PDF, results and documents")


@pytest.fixture(scope="module")
def r4_consent_errors() -> Any:
    """Errors of a Consent against HL7's official R4 JSON schema."""
    path = SHARED_R4 / "fhir.schema.json"
    if not path.is_file():
        pytest.skip("the official R4 JSON schema is not available")
    schema = json.loads(path.read_text(encoding="utf-8"))
    check = validators.validator_for(schema)(
        {"$ref": "#/definitions/Consent", "definitions": schema["definitions"]}
    )
    return lambda r: [e.message for e in check.iter_errors(r)]


# --- the production credentials -----------------------------------------------------------------


def patient_auth(app: Flask, patient: int, scope: str = CONSENT_SCOPE) -> Auth:
    """A SMART token of an app launched by the account of ``patient`` (authorization code, PKCE,
    the real consent page)."""
    browser = app.test_client()
    account_id = add_account(app, (patient, "self"))
    browser.get(f"/_test/sign-in/{account_id}")
    client_id, _ = add_app(app, scope=f"{APP_SCOPE} patient/Consent.crus")
    verifier, challenge = pkce()
    query = get_code(browser, authorize_params(client_id, challenge, scope), patient=patient)
    answer = exchange(browser, client_id, query["code"][0], verifier)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


@dataclass(frozen=True)
class Partner:
    client_id: str
    key: Any

    def auth(self, app: Flask) -> Auth:
        """A fresh backend-services token (system/*.rs)."""
        answer = _token(app, _assertion(self.client_id, self.key), scope="system/*.rs")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def new_partner(app: Flask, kid: str = "rsa-1") -> Partner:
    key = _rsa(kid)
    return Partner(_partner(app, key), key)


def consent(patient: int, partner: str, **provision: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active",
        "patient": {"reference": f"Patient/{patient}"},
        "organization": [{"identifier": {"system": SYSTEM, "value": partner}}],
    }
    if provision:
        body["provision"] = {"type": "permit", **provision}
    return body


def classes(*codes: str) -> list[dict[str, str]]:
    return [{"system": TYPES, "code": c} for c in codes]


def data(*refs: str) -> list[dict[str, Any]]:
    return [{"meaning": "instance", "reference": {"reference": r}} for r in refs]


def give(app: Flask, auth: Auth, body: dict[str, Any]) -> dict[str, Any]:
    answer = app.test_client().post("/fhir/Consent", json=body, headers=auth)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()  # type: ignore[no-any-return]


def ids(app: Flask, auth: Auth, url: str, rtype: str | None = None) -> set[str]:
    answer = app.test_client().get(url, headers=auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in answer.get_json().get("entry", [])
        if e["resource"]["resourceType"] != "OperationOutcome"
        and (rtype is None or e["resource"]["resourceType"] == rtype)
    }


def status(app: Flask, auth: Auth, url: str) -> int:
    return app.test_client().get(url, headers=auth).status_code


def stamp(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def diagnostics(answer: Any) -> str:
    body = answer.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return " ".join(i.get("diagnostics", "") for i in body["issue"])


# --- 1. the partner must be a registered, active partner client ----------------------------------


def test_a_consent_to_anyone_but_a_registered_active_partner_is_refused(
    oauth_app: Flask, world: World
) -> None:
    mine = patient_auth(oauth_app, world.p1)
    app_client, _ = add_app(oauth_app)  # an app, not a partner clinic
    gone = new_partner(oauth_app, "rsa-gone")
    assert store_of(oauth_app).deactivate_client(gone.client_id)
    client = oauth_app.test_client()
    answers = {
        name: client.post("/fhir/Consent", json=consent(world.p1, value), headers=mine)
        for name, value in (
            ("unknown", "no-such-clinic"),
            ("app", app_client),
            ("deactivated", gone.client_id),
        )
    }
    for name, answer in answers.items():
        assert answer.status_code == 422, name
        assert "not a registered partner" in diagnostics(answer), name
    # the same words whatever the client id is: nothing tells which clients exist
    assert len({diagnostics(a) for a in answers.values()}) == 1
    engine = oauth_app.extensions["state_engine"]
    assert service.list_shares(engine, None) == []

    partner = new_partner(oauth_app)
    made = give(oauth_app, mine, consent(world.p1, partner.client_id))
    assert made["organization"][0]["identifier"]["value"] == partner.client_id


def test_a_consent_naming_two_partners_is_refused(oauth_app: Flask, world: World) -> None:
    mine = patient_auth(oauth_app, world.p1)
    one, two = new_partner(oauth_app), new_partner(oauth_app, "rsa-2")
    body = consent(world.p1, one.client_id)
    body["organization"].append({"identifier": {"system": SYSTEM, "value": two.client_id}})
    answer = oauth_app.test_client().post("/fhir/Consent", json=body, headers=mine)
    assert answer.status_code == 422
    by_literal = consent(world.p1, one.client_id)
    by_literal["organization"] = [{"reference": "Organization/1"}]
    answer = oauth_app.test_client().post("/fhir/Consent", json=by_literal, headers=mine)
    assert answer.status_code == 422
    assert "Consent.organization[0]" in diagnostics(answer)


# --- 3. what cannot be honoured exactly is refused, naming the element ----------------------------


def test_provision_elements_the_gateway_cannot_honour_are_refused_by_name(
    oauth_app: Flask, world: World
) -> None:
    mine = patient_auth(oauth_app, world.p1)
    partner = new_partner(oauth_app).client_id
    client = oauth_app.test_client()
    now = dt.datetime.now(dt.UTC)
    coding = {"system": "http://example.org/codes", "code": "x"}
    p1, p2 = world.p1, world.p2
    cases: list[tuple[dict[str, Any], str]] = [
        (consent(p1, partner, provision=[{"type": "deny"}]), "Consent.provision.provision"),
        (consent(p1, partner, action=[{"coding": [coding]}]), "Consent.provision.action"),
        (consent(p1, partner, securityLabel=[coding]), "Consent.provision.securityLabel"),
        (consent(p1, partner, purpose=[coding]), "Consent.provision.purpose"),
        (consent(p1, partner, dataPeriod={"start": "2020-01-01"}), "Consent.provision.dataPeriod"),
        (consent(p1, partner, code=[{"coding": [coding]}]), "Consent.provision.code"),
        (consent(p1, partner, modifierExtension=[{"url": "x"}]), "provision.modifierExtension"),
        ({**consent(p1, partner), "provision": {"type": "deny"}}, "Consent.provision.type"),
        ({**consent(p1, partner), "modifierExtension": [{"url": "x"}]}, "modifierExtension"),
        ({**consent(p1, partner), "scope": {"coding": [coding]}}, "Consent.scope"),
        ({**consent(p1, partner), "policyRule": {"coding": [coding]}}, "Consent.policyRule"),
        ({**consent(p1, partner), "policy": [{"uri": "http://example.org/p"}]}, "Consent.policy"),
        ({**consent(p1, partner), "sharedWith": "everyone"}, "Consent.sharedWith"),
        (consent(p1, partner, **{"class": [coding]}), "Consent.provision.class[0]"),
        (consent(p1, partner, **{"class": classes("Practitioner")}), "provision.class[0]"),
        (consent(p1, partner, **{"class": classes("Consent")}), "provision.class[0]"),
        (
            consent(
                p1,
                partner,
                data=[{"meaning": "related", "reference": {"reference": f"Patient/{p1}"}}],
            ),
            "Consent.provision.data[0].meaning",
        ),
        (consent(p1, partner, data=data("Practitioner/1")), "provision.data[0].reference"),
        (consent(p1, partner, data=data("ImagingStudy/1")), "provision.data[0].reference"),
        (
            consent(
                p1,
                partner,
                **{"class": classes("Patient")},
                data=data(f"Observation/{world.other_result}"),
            ),
            "provision.data[0].reference",
        ),
        (consent(p1, partner, data=data(f"Patient/{p2}")), "is not a resource of Patient"),
        (consent(p1, partner, data=data("Observation/999999999")), "is not a resource"),
        (
            consent(p1, partner, period={"end": stamp(now - dt.timedelta(days=1))}),
            "Consent.provision.period.end",
        ),
        (
            consent(p1, partner, period={"start": "2031-01-02", "end": "2031-01-01"}),
            "Consent.provision.period.end",
        ),
        (consent(p1, partner, period={"start": "tomorrow"}), "Consent.provision.period.start"),
        (
            consent(p1, partner, actor=[{"reference": {"reference": "Practitioner/1"}}]),
            "Consent.provision.actor[0]",
        ),
        ({**consent(p1, partner), "status": "draft"}, "active"),
    ]
    for body, element in cases:
        answer = client.post("/fhir/Consent", json=body, headers=mine)
        assert answer.status_code == 422, (element, answer.get_data(as_text=True))
        assert element in diagnostics(answer), (element, diagnostics(answer))
    assert service.list_shares(oauth_app.extensions["state_engine"], None) == []
    malformed = client.post(
        "/fhir/Consent", data="{not json", headers={**mine, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.get_json()["resourceType"] == "OperationOutcome"


# --- 2. the period is honoured at every request ---------------------------------------------------


def test_before_its_start_the_partner_sees_nothing_of_the_patient(
    oauth_app: Flask, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = new_partner(oauth_app)
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    give(
        oauth_app,
        patient_auth(oauth_app, world.p1),
        consent(world.p1, partner.client_id, period={"start": start.date().isoformat()}),
    )
    theirs = partner.auth(oauth_app)
    assert status(oauth_app, theirs, f"/fhir/Patient/{world.p1}") == 404
    assert ids(oauth_app, theirs, f"/fhir/Observation?patient={world.p1}") == set()
    # the day the period starts (a date counts from its first second, UTC), the same token sees
    later = dt.datetime.combine(start.date(), dt.time())
    monkeypatch.setattr(service, "_now", lambda: later)
    assert status(oauth_app, theirs, f"/fhir/Patient/{world.p1}") == 200


def test_after_its_end_the_partner_sees_nothing_without_any_job_or_write(
    oauth_app: Flask, world: World
) -> None:
    """The partner's token is issued while the Consent is in force; when its end passes, the
    next request of that very token sees nothing, though nothing has written anything."""
    partner = new_partner(oauth_app)
    mine = patient_auth(oauth_app, world.p1)
    theirs = partner.auth(oauth_app)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
    made = give(oauth_app, mine, consent(world.p1, partner.client_id, period={"end": stamp(end)}))
    assert made["provision"]["period"]["end"] == stamp(end)
    assert status(oauth_app, theirs, f"/fhir/Patient/{world.p1}") == 200
    assert ids(oauth_app, theirs, f"/fhir/Observation?patient={world.p1}")
    engine = oauth_app.extensions["state_engine"]
    before = service.list_shares(engine, None)
    time.sleep(max(0.0, (end - dt.datetime.now(dt.UTC)).total_seconds()) + 1.2)
    assert status(oauth_app, theirs, f"/fhir/Patient/{world.p1}") == 404
    assert ids(oauth_app, theirs, f"/fhir/Observation?patient={world.p1}") == set()
    assert ids(oauth_app, theirs, "/fhir/Patient") == set()
    assert service.list_shares(engine, None) == before  # no write made it so
    # the patient still reads it back, active, with the end that was asked for
    back = oauth_app.test_client().get(f"/fhir/Consent/{made['id']}", headers=mine).get_json()
    assert back["provision"]["period"]["end"] == stamp(end)


# --- 3. class and data narrow per patient ---------------------------------------------------------


def test_class_narrows_each_patient_to_the_types_their_consent_covers(
    oauth_app: Flask, world: World
) -> None:
    partner = new_partner(oauth_app)
    p1, p2 = world.p1, world.p2
    give(
        oauth_app,
        patient_auth(oauth_app, p1),
        consent(p1, partner.client_id, **{"class": classes("Patient", "Observation")}),
    )
    give(oauth_app, patient_auth(oauth_app, p2), consent(p2, partner.client_id))
    theirs = partner.auth(oauth_app)

    observations = ids(oauth_app, theirs, "/fhir/Observation?_count=1000&_elements=subject")
    assert observations
    subjects = {
        e["resource"]["subject"]["reference"]
        for e in oauth_app.test_client()
        .get("/fhir/Observation?_count=1000", headers=theirs)
        .get_json()["entry"]
    }
    assert subjects == {f"Patient/{p1}", f"Patient/{p2}"}
    documents = (
        oauth_app.test_client()
        .get("/fhir/DocumentReference?_count=1000", headers=theirs)
        .get_json()
    )
    assert documents.get("entry")
    assert {e["resource"]["subject"]["reference"] for e in documents["entry"]} == {f"Patient/{p2}"}
    assert status(oauth_app, theirs, f"/fhir/DocumentReference/{world.document}") == 404
    assert status(oauth_app, theirs, f"/fhir/Binary/{world.document}") == 404
    assert status(oauth_app, theirs, f"/fhir/DiagnosticReport/{world.bulletin}") == 404
    # $everything of p1 holds only the types p1 shared; p2's holds more
    everything = ids(oauth_app, theirs, f"/fhir/Patient/{p1}/$everything?_count=1000")
    compartment = {r.split("/")[0] for r in everything} & {
        "Patient",
        "Observation",
        "DiagnosticReport",
        "DocumentReference",
        "Encounter",
    }
    assert compartment == {"Patient", "Observation"}
    theirs_p2 = ids(oauth_app, theirs, f"/fhir/Patient/{p2}/$everything?_count=1000")
    assert any(r.startswith("DocumentReference/") for r in theirs_p2)
    # a revinclude from p1 brings Observations, never DiagnosticReports
    rev = ids(
        oauth_app,
        theirs,
        f"/fhir/Patient?_id={p1}&_revinclude=DiagnosticReport:patient"
        "&_revinclude=Observation:patient",
    )
    assert any(r.startswith("Observation/") for r in rev)
    assert not any(r.startswith("DiagnosticReport/") for r in rev)


def test_data_narrows_a_patient_to_the_listed_resources_everywhere(
    oauth_app: Flask, world: World
) -> None:
    """p1 shares their Patient, one Observation, one document and one lab bulletin (with its
    PDF); p2 shares everything. Every way of reaching p1's other records finds nothing, while
    p2's stay whole."""
    partner = new_partner(oauth_app)
    p1, p2 = world.p1, world.p2
    listed_result = world.bulletin_results[0]
    unlisted_result = world.bulletin_results[1]
    made = give(
        oauth_app,
        patient_auth(oauth_app, p1),
        consent(
            p1,
            partner.client_id,
            data=data(
                f"Patient/{p1}",
                f"Observation/{listed_result}",
                f"DocumentReference/{world.document}",
                f"DiagnosticReport/{world.bulletin}",
            ),
        ),
    )
    give(oauth_app, patient_auth(oauth_app, p2), consent(p2, partner.client_id))
    theirs = partner.auth(oauth_app)
    listed = {
        f"Patient/{p1}",
        f"Observation/{listed_result}",
        f"DocumentReference/{world.document}",
        f"DiagnosticReport/{world.bulletin}",
    }

    # read
    for ref in listed:
        assert status(oauth_app, theirs, f"/fhir/{ref}") == 200, ref
    for ref in (
        f"Observation/{unlisted_result}",
        f"Observation/{world.other_result}",
        f"DocumentReference/{world.other_document}",
        f"DocumentReference/{world.bulletin_file}",
    ):
        assert status(oauth_app, theirs, f"/fhir/{ref}") == 404, ref
    # Binary: the files of the listed document and report, no other file of p1
    assert status(oauth_app, theirs, f"/fhir/Binary/{world.document}") == 200
    assert status(oauth_app, theirs, f"/fhir/Binary/{world.bulletin_file}") == 200
    assert status(oauth_app, theirs, f"/fhir/Binary/{world.other_document}") == 404

    # search: p1 only through the listed resources, p2 whole
    assert ids(oauth_app, theirs, f"/fhir/Observation?patient={p1}&_count=1000") == {
        f"Observation/{listed_result}"
    }
    assert ids(oauth_app, theirs, f"/fhir/DocumentReference?patient={p1}") == {
        f"DocumentReference/{world.document}"
    }
    everyone = ids(oauth_app, theirs, "/fhir/Observation?_count=1000")
    assert f"Observation/{listed_result}" in everyone
    assert f"Observation/{unlisted_result}" not in everyone
    assert f"Observation/{world.other_result}" not in everyone
    assert len(everyone) > 1  # p2's results too
    assert ids(oauth_app, theirs, f"/fhir/Encounter?patient={p1}") == set()
    counted = oauth_app.test_client().get(
        f"/fhir/Observation?patient={p1}&_summary=count", headers=theirs
    )
    assert counted.get_json()["total"] == 1

    # _include from the listed report: only the listed result of its results
    included = ids(
        oauth_app,
        theirs,
        f"/fhir/DiagnosticReport?_id={world.bulletin}&_include=DiagnosticReport:result",
        "Observation",
    )
    assert included == {f"Observation/{listed_result}"}
    # _revinclude from p1: only the listed resources point back
    rev = ids(
        oauth_app,
        theirs,
        f"/fhir/Patient?_id={p1}&_revinclude=Observation:patient"
        "&_revinclude=DocumentReference:patient&_revinclude=DiagnosticReport:patient",
    )
    assert rev == listed

    # $everything: the listed resources and nothing else of p1's compartment
    everything = ids(oauth_app, theirs, f"/fhir/Patient/{p1}/$everything?_count=1000")
    compartment = {
        r for r in everything
        if r.split("/")[0] in {"Patient", "Observation", "DiagnosticReport",
                               "DocumentReference", "Encounter", "RelatedPerson",
                               "Appointment", "QuestionnaireResponse", "ImagingStudy"}
    }  # fmt: skip
    assert compartment == listed

    # the Consent read back says what was granted, files included
    back = {d["reference"]["reference"] for d in made["provision"]["data"]}
    assert back == listed | {f"Binary/{world.document}", f"Binary/{world.bulletin_file}"}


# --- 5. read back with what was granted, valid R4 ----------------------------------------------


def test_the_consent_reads_back_with_its_terms_and_is_valid_r4(
    oauth_app: Flask, world: World, r4_consent_errors: Any
) -> None:
    partner = new_partner(oauth_app)
    mine = patient_auth(oauth_app, world.p1)
    asked = consent(
        world.p1,
        partner.client_id,
        period={"start": "2026-01-15", "end": "2099-06"},
        actor=[{"reference": {"identifier": {"system": SYSTEM, "value": partner.client_id}}}],
        **{"class": classes("Observation", "Patient")},
        data=data(f"Observation/{world.other_result}"),
    )
    made = give(oauth_app, mine, asked)
    back = oauth_app.test_client().get(f"/fhir/Consent/{made['id']}", headers=mine)
    assert back.status_code == 200
    body = back.get_json()
    assert body == made
    provision = body["provision"]
    assert provision["type"] == "permit"
    assert provision["period"] == {"start": "2026-01-15T00:00:00Z", "end": "2099-06-30T23:59:59Z"}
    assert sorted(c["code"] for c in provision["class"]) == ["Observation", "Patient"]
    assert {c["system"] for c in provision["class"]} == {TYPES}
    assert provision["data"] == data(f"Observation/{world.other_result}")
    assert provision["actor"][0]["reference"]["identifier"]["value"] == partner.client_id
    ConsentModel.model_validate(body)
    assert r4_consent_errors(body) == []
    listed = oauth_app.test_client().get("/fhir/Consent", headers=mine).get_json()
    assert [e["resource"] for e in listed["entry"]] == [body]

    withdrawn = oauth_app.test_client().put(
        f"/fhir/Consent/{made['id']}", json={**body, "status": "inactive"}, headers=mine
    )
    assert withdrawn.status_code == 200
    ended = withdrawn.get_json()
    assert ended["status"] == "inactive"
    assert ended["provision"]["period"]["end"] < "2099"  # the withdrawal ends it early
    ConsentModel.model_validate(ended)
    assert r4_consent_errors(ended) == []


# --- 4. only a grant acting for the patient creates or withdraws ----------------------------------


def test_result_code_viewer_and_partner_tokens_neither_create_nor_withdraw(
    oauth_app: Flask, world: World
) -> None:
    partner = new_partner(oauth_app)
    made = give(oauth_app, patient_auth(oauth_app, world.p1), consent(world.p1, partner.client_id))
    engine = oauth_app.extensions["state_engine"]
    client = oauth_app.test_client()

    # a result code: the production route redeems it into a bearer token
    b = lab_bulletin
    his = make_engine(oauth_app.config["SETTINGS"].his_url)
    with his.connect() as conn:
        row = (
            conn.execute(
                sa.select(b.c.access_code, b.c.patient_id).where(
                    b.c.access_code.is_not(None), b.c.patient_id == world.p1
                )
            ).first()
            or conn.execute(
                sa.select(b.c.access_code, b.c.patient_id).where(b.c.access_code.is_not(None))
            ).first()
        )
        assert row is not None
        nid = conn.execute(
            sa.text("SELECT national_id FROM patient WHERE id = :id"), {"id": row.patient_id}
        ).scalar()
    his.dispose()
    redeemed = client.post(
        "/auth/result-access", data={"code": row.access_code, "national_id": nid}
    )
    assert redeemed.status_code == 200, redeemed.get_data(as_text=True)
    result_code = {"Authorization": f"Bearer {redeemed.get_json()['access_token']}"}
    tokens = {
        "result code": (result_code, row.patient_id),
        "partner": (partner.auth(oauth_app), world.p1),
    }
    for name, (auth, patient) in tokens.items():
        create = client.post(
            "/fhir/Consent", json=consent(patient, partner.client_id), headers=auth
        )
        assert create.status_code == 403, name
        withdraw = client.put(
            f"/fhir/Consent/{made['id']}",
            json={"resourceType": "Consent", "status": "inactive"},
            headers=auth,
        )
        assert withdraw.status_code == 403, name
        assert client.get("/fhir/Consent", headers=auth).status_code == 403, name
    assert [s["active"] for s in service.list_shares(engine, None)] == [True]
    # a patient token without a Consent scope cannot either
    reader = patient_auth(oauth_app, world.p1, "launch/patient openid fhirUser patient/*.rs")
    assert (
        client.post(
            "/fhir/Consent", json=consent(world.p1, partner.client_id), headers=reader
        ).status_code
        == 403
    )
    assert (
        client.put(
            f"/fhir/Consent/{made['id']}",
            json={"resourceType": "Consent", "status": "inactive"},
            headers=reader,
        ).status_code
        == 403
    )
    assert [s["active"] for s in service.list_shares(engine, None)] == [True]


class _NoPacs:
    """A PACS never reached: the Consent routes do not touch images. Present only so that the
    gateway serves DICOMweb and registers its viewer-token validator."""

    def close(self) -> None:
        return None


def test_a_viewer_token_neither_creates_nor_withdraws(sqlite_his: str, tmp_path: Path) -> None:
    app = create_app(
        app_config(sqlite_his, dev_open_access=False, state_url=f"sqlite:///{tmp_path}/s.sqlite"),
        pacs=_NoPacs(),  # type: ignore[arg-type]
    )
    engine = app.extensions["state_engine"]
    share = service.grant_share(engine, 3, "clinic")
    minted = (
        app.extensions["dicomweb"]
        .extras["viewer_tokens"]
        .mint(ViewerClaim("1.2.3", "MRN3", 3, "patient:1"))
    )
    client = app.test_client()
    auth = {"Authorization": f"Bearer {minted}"}
    assert client.get("/fhir/Consent", headers=auth).status_code == 403  # the token is valid
    assert client.post("/fhir/Consent", json=consent(3, "clinic"), headers=auth).status_code == 403
    put = client.put(
        f"/fhir/Consent/{share['id']}",
        json={"resourceType": "Consent", "status": "inactive"},
        headers=auth,
    )
    assert put.status_code == 403
    assert [s["active"] for s in service.list_shares(engine, None)] == [True]
    bad = {"Authorization": f"Bearer {minted[:-4]}AAAA"}
    assert client.get("/fhir/Consent", headers=bad).status_code == 401
    app.extensions["audit_writer"].close()


def test_listed_resources_and_filtered_scopes_both_apply(oauth_app: Flask, world: World) -> None:
    """A partner whose token carries a query-filtered scope sees of a patient's listed resources
    only those the filter matches too: the Consent narrows the scopes, it never widens them."""
    partner = new_partner(oauth_app)
    listed = f"Observation/{world.bulletin_results[0]}"
    give(
        oauth_app,
        patient_auth(oauth_app, world.p1),
        consent(world.p1, partner.client_id, data=data(listed)),
    )
    lab = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    vitals = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
    for category, expected in ((lab, {listed}), (vitals, set())):
        answer = _token(
            oauth_app,
            _assertion(partner.client_id, partner.key),
            scope=f"system/Observation.rs?category={category}",
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
        auth = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
        assert ids(oauth_app, auth, "/fhir/Observation?_count=1000") == expected, category
        assert status(oauth_app, auth, f"/fhir/{listed}") == (200 if expected else 404)


def test_a_consent_withdrawn_before_its_start_keeps_a_valid_period(
    oauth_app: Flask, world: World, r4_consent_errors: Any
) -> None:
    partner = new_partner(oauth_app)
    mine = patient_auth(oauth_app, world.p1)
    made = give(oauth_app, mine, consent(world.p1, partner.client_id, period={"start": "2098"}))
    assert made["provision"]["period"] == {"start": "2098-01-01T00:00:00Z"}
    ended = (
        oauth_app.test_client()
        .put(f"/fhir/Consent/{made['id']}", json={**made, "status": "inactive"}, headers=mine)
        .get_json()
    )
    span = ended["provision"]["period"]
    assert span["start"] <= span["end"]
    ConsentModel.model_validate(ended)
    assert r4_consent_errors(ended) == []
    assert ids(oauth_app, partner.auth(oauth_app), "/fhir/Patient") == set()


def test_the_decision_under_shares_is_never_wider_than_each_patients_consent() -> None:
    """``AccessPolicy.decide`` for a partner's grant of three patients: 1 shares Observations,
    2 lists one Observation and one document, 3 shares everything."""
    from access.policy import AccessPolicy, Grant, Share
    from access.scopes import levels_for, parse_scopes

    shares = (
        Share(1, frozenset({"Observation"})),
        Share(2, None, frozenset({"Observation/9", "DocumentReference/4", "Binary/4"})),
        Share(3),
    )
    grant = Grant(
        subject="system:clinic",
        client_id="clinic",
        patients=frozenset({1, 2, 3}),
        scopes=parse_scopes("system/*.rs"),
        levels=levels_for("system"),
        shares=shares,
    )
    policy = AccessPolicy("test")
    observation = policy.decide(grant, "Observation", "search")
    assert observation.patients == {1, 2, 3}
    assert observation.filters == (
        (("patient", "Patient/1,Patient/3"),),
        (("patient", "Patient/2"), ("_id", "9")),
    )
    encounter = policy.decide(grant, "Encounter", "search")
    assert (encounter.patients, encounter.filters) == ({3}, None)
    patient = policy.decide(grant, "Patient", "read")
    assert (patient.patients, patient.filters) == ({3}, None)
    binary = policy.decide(grant, "Binary", "read")
    assert binary.patients == {3}
    assert binary.instances == ((2, frozenset({"4"})),)
    assert policy.decide(grant, "Practitioner", "read").patients is None  # not patient data
    # a filtered scope and the shares both apply: every pairing of their alternatives
    filtered = Grant(
        subject="system:clinic",
        client_id="clinic",
        patients=frozenset({1, 2, 3}),
        scopes=parse_scopes("system/Observation.rs?category=laboratory"),
        levels=levels_for("system"),
        shares=shares,
    )
    both = policy.decide(filtered, "Observation", "search").filters
    assert both is not None
    assert len(both) == 2
    assert all(("category", "laboratory") in alternative for alternative in both)
    # a partner with no Consent in force sees no patient at all
    none = Grant(
        subject="system:clinic",
        patients=frozenset(),
        scopes=parse_scopes("system/*.rs"),
        levels=levels_for("system"),
        shares=(),
    )
    assert policy.decide(none, "Observation", "search").patients == frozenset()


def test_a_withdrawal_cannot_change_what_the_consent_shares(oauth_app: Flask, world: World) -> None:
    partner = new_partner(oauth_app)
    mine = patient_auth(oauth_app, world.p1)
    made = give(
        oauth_app, mine, consent(world.p1, partner.client_id, **{"class": classes("Patient")})
    )
    client = oauth_app.test_client()
    wider = {**made, "status": "inactive"}
    wider["provision"] = {**made["provision"], "class": classes("Patient", "Observation")}
    answer = client.put(f"/fhir/Consent/{made['id']}", json=wider, headers=mine)
    assert answer.status_code == 422
    assert "provision" in diagnostics(answer)
    engine = oauth_app.extensions["state_engine"]
    assert [s["active"] for s in service.list_shares(engine, None)] == [True]
    same = client.put(
        f"/fhir/Consent/{made['id']}", json={**made, "status": "inactive"}, headers=mine
    )
    assert same.status_code == 200
    assert [s["active"] for s in service.list_shares(engine, None)] == [False]
