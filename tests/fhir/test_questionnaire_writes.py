"""A patient answers an assigned questionnaire through the FHIR API (F18): save, submit, closed.

Real parts: a generated HIS of this module's own (the updates change it), the gateway with
authorization on, SMART tokens made through the real launch (sign-in, consent page, code
exchange). What is checked is what the HIS table holds afterwards as much as the answers: the
answers reach ``questionnaire_assignment`` (status, answers, submitted_at, version), a completed
response is closed for good (409), a stale ``If-Match`` is 412, and of concurrent submits of one
response exactly one wins.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from demo.generator import generate
from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import make_engine
from tests.conftest import TODAY
from tests.smart_auth.test_oauth_fixtures import (
    add_account,
    add_app,
    authorize_params,
    exchange,
    get_code,
    his_guardian_link,
    make_app,
    pkce,
)

ANSWERING = "launch/patient openid fhirUser patient/*.rs patient/QuestionnaireResponse.u"
V1_ANSWERING = "launch/patient openid patient/*.read patient/QuestionnaireResponse.write"
READING = "launch/patient openid fhirUser patient/*.rs"
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def his(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('qr-his') / 'his.sqlite'}"
    engine = make_engine(url)
    generate(engine, patients=40, seed=7, today=TODAY)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def people(his: str) -> dict[str, Any]:
    """Two patients with documents and performed imaging: P answers, Q is someone else."""
    engine = sa.create_engine(his)
    d, io, q = t.document, t.imaging_order, t.questionnaire
    with engine.connect() as conn:
        documented = set(conn.execute(sa.select(d.c.patient_id).distinct()).scalars())
        imaged = set(
            conn.execute(
                sa.select(io.c.patient_id)
                .where(io.c.status.in_(("performed", "reported")), io.c.study_uid.is_not(None))
                .distinct()
            ).scalars()
        )
        p, other = sorted(documented & imaged)[:2]
        doc_of = {
            pid: conn.execute(
                sa.select(d.c.id).where(d.c.patient_id == pid).order_by(d.c.id).limit(1)
            ).scalar_one()
            for pid in (p, other)
        }
        study = conn.execute(
            sa.select(io.c.id)
            .where(io.c.patient_id == p, io.c.status.in_(("performed", "reported")))
            .where(io.c.study_uid.is_not(None))
            .order_by(io.c.id)
            .limit(1)
        ).scalar_one()
        onco = conn.execute(
            sa.select(q.c.id).where(q.c.code.like("onco-previsit-%")).order_by(q.c.id).limit(1)
        ).scalar_one()
    engine.dispose()
    return {
        "p": p,
        "q": other,
        "doc": doc_of[p],
        "doc_of_q": doc_of[other],
        "study": study,
        "onco": onco,
    }


@pytest.fixture(scope="module")
def app(his: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = make_app(his, tmp_path_factory.mktemp("qr-state"))
    yield app
    app.extensions["state_engine"].dispose()


def token(app: Flask, patient: int, scope: str, *wards: int) -> str:
    """A token made through the real launch: sign-in, consent page, code exchange (for the
    patient, or at user level for them and ``wards``, persons in their care)."""
    client = app.test_client()
    people = [(patient, "self"), *((ward, "guardian") for ward in wards)]
    client.get(f"/_test/sign-in/{add_account(app, *people)}")
    client_id, _ = add_app(app, scope=scope)
    verifier, challenge = pkce()
    chosen = patient if "launch/patient" in scope else None
    code = get_code(client, authorize_params(client_id, challenge, scope), patient=chosen)
    answer = exchange(client, client_id, code["code"][0], verifier)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_json()["access_token"])


@pytest.fixture(scope="module")
def bearer(app: Flask, people: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(app, people['p'], ANSWERING)}"}


def assign(his: str, patient: int, questionnaire: int) -> int:
    """A new assignment of the HIS (status sent): the id of its QuestionnaireResponse."""
    qa = t.questionnaire_assignment
    engine = sa.create_engine(his)
    sent = dt.datetime(2026, 10, 30, 8, 15)
    with engine.begin() as conn:
        his_id = int(conn.execute(sa.select(sa.func.max(qa.c.id))).scalar_one() or 0) + 1
        conn.execute(
            qa.insert().values(
                id=his_id,
                questionnaire_id=questionnaire,
                patient_id=patient,
                sent_at=sent,
                status="sent",
                updated_at=sent,
                version=1,
            )
        )
    engine.dispose()
    return his_id


def his_row(his: str, his_id: int) -> Any:
    engine = sa.create_engine(his)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t.questionnaire_assignment).where(t.questionnaire_assignment.c.id == his_id)
        ).one()
    engine.dispose()
    return row


def item(link_id: str, *answers: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link_id, "answer": list(answers)}


class Answering:
    """One assigned questionnaire of P's, and the requests that answer it."""

    def __init__(self, app: Flask, his: str, people: dict[str, Any], headers: dict[str, str]):
        self.app, self.his, self.headers = app, his, headers
        self.his_id = assign(his, people["p"], people["onco"])
        self.url = f"/fhir/QuestionnaireResponse/{self.his_id}"
        client = app.test_client()
        self.qr = client.get(self.url, headers=headers).get_json()
        assert self.qr["status"] == "in-progress", self.qr
        questionnaire = client.get(
            f"/fhir/Questionnaire?url={self.qr['questionnaire'].split('|')[0]}", headers=headers
        ).get_json()["entry"][0]["resource"]
        self.system = questionnaire["item"][1]["answerOption"][0]["valueCoding"]["system"]

    def put(
        self, status: str, *items: dict[str, Any], if_match: str | None = None, **extra: Any
    ) -> Any:
        headers = {**self.headers, "Content-Type": FHIR_JSON}
        if if_match is not None:
            headers["If-Match"] = if_match
        body = {**self.qr, "status": status, "item": list(items), **extra}
        return self.app.test_client().put(self.url, json=body, headers=headers)

    def required(self) -> list[dict[str, Any]]:
        """Answers to every required question of onco-previsit."""
        return [
            item("reason", {"valueCoding": {"system": self.system, "code": "first"}}),
            item("treated", {"valueBoolean": False}),
            item("weight", {"valueInteger": 71}),
            item("height", {"valueDecimal": 1.74}),
        ]


@pytest.fixture
def answering(app: Flask, his: str, people: dict[str, Any], bearer: dict[str, str]) -> Answering:
    return Answering(app, his, people, bearer)


# --- save, submit, closed ----------------------------------------------------------------------


def test_save_then_submit_then_closed_for_good(answering: Answering) -> None:
    saved = answering.put("in-progress", item("gp", {"valueString": "Dr Pop"}))
    assert saved.status_code == 200, saved.get_data(as_text=True)
    body = saved.get_json()
    assert body["status"] == "in-progress"
    assert [(i["linkId"], i["answer"]) for i in body["item"]] == [
        ("gp", [{"valueString": "Dr Pop"}])
    ]
    assert saved.headers["ETag"] == f'W/"{body["meta"]["versionId"]}"'
    row = his_row(answering.his, answering.his_id)
    assert (row.status, row.version, row.submitted_at) == ("in-progress", 2, None)
    assert row.answers == {"gp": "Dr Pop"}

    submitted = answering.put("completed", *answering.required(), item("gp"))
    assert submitted.status_code == 200, submitted.get_data(as_text=True)
    assert submitted.get_json()["status"] == "completed"
    row = his_row(answering.his, answering.his_id)
    assert (row.status, row.version) == ("submitted", 3)
    assert row.submitted_at is not None
    assert row.answers == {"reason": "first", "treated": False, "weight": 71, "height": 1.74}
    read = answering.app.test_client().get(answering.url, headers=answering.headers)
    assert read.get_json()["status"] == "completed"

    for status in ("in-progress", "completed"):
        again = answering.put(status, *answering.required())
        assert again.status_code == 409, again.get_data(as_text=True)
        outcome = again.get_json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "conflict"
    assert his_row(answering.his, answering.his_id).version == 3


def test_submitting_with_missing_required_answers_is_refused_per_item(answering: Answering) -> None:
    refused = answering.put("completed", item("gp", {"valueString": "x" * 101}))
    assert refused.status_code == 422
    issues = refused.get_json()["issue"]
    named = [i["expression"][0] for i in issues]
    for link_id in ("reason", "treated", "weight", "height", "gp"):
        assert f"QuestionnaireResponse.item.where(linkId='{link_id}')" in named
    assert all(
        i["diagnostics"].split(":")[0] in {"reason", "treated", "weight", "height", "gp"}
        for i in issues
    )
    assert "xxxx" not in refused.get_data(as_text=True)
    row = his_row(answering.his, answering.his_id)
    assert (row.status, row.version, row.answers) == ("sent", 1, None)


def test_deliver_without_upload_completes_with_no_attachment(answering: Answering) -> None:
    done = answering.put("completed", *answering.required(), item("earlier"))
    assert done.status_code == 200, done.get_data(as_text=True)
    assert "earlier" not in his_row(answering.his, answering.his_id).answers


def test_attachments_are_the_patients_documents_and_studies(
    answering: Answering, people: dict[str, Any]
) -> None:
    own = [
        {"valueAttachment": {"url": f"DocumentReference/{people['doc']}", "title": "Letter"}},
        {"valueAttachment": {"url": f"ImagingStudy/{people['study']}"}},
    ]
    of_q = {"valueAttachment": {"url": f"DocumentReference/{people['doc_of_q']}"}}
    refused = answering.put("completed", *answering.required(), item("earlier", *own, of_q))
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert [i["expression"] for i in refused.get_json()["issue"]] == [
        ["QuestionnaireResponse.item.where(linkId='earlier')"]
    ]
    done = answering.put("completed", *answering.required(), item("earlier", *own))
    assert done.status_code == 200, done.get_data(as_text=True)
    assert his_row(answering.his, answering.his_id).answers["earlier"] == [
        {"url": f"DocumentReference/{people['doc']}", "title": "Letter"},
        {"url": f"ImagingStudy/{people['study']}"},
    ]
    shown = done.get_json()["item"]
    earlier = next(i for i in shown if i["linkId"] == "earlier")
    assert [a["valueAttachment"]["url"] for a in earlier["answer"]] == [
        f"DocumentReference/{people['doc']}",
        f"ImagingStudy/{people['study']}",
    ]


def _upload(app: Flask, headers: dict[str, str]) -> str:
    """A PDF the patient uploads (F17): the id of its DocumentReference."""
    from tests.uploads.samples import pdf

    client = app.test_client()
    made = client.post(
        "/fhir/Binary", data=pdf(), headers={**headers, "Content-Type": "application/pdf"}
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    base = app.config["UPLOADS_BASE"]
    doc = client.post(
        "/fhir/DocumentReference",
        json={
            "resourceType": "DocumentReference",
            "status": "current",
            "type": {
                "coding": [{"system": f"{base}/CodeSystem/patient-document-type", "code": "other"}]
            },
            "content": [{"attachment": {"url": f"Binary/{made.get_json()['id']}"}}],
        },
        headers=headers,
    )
    assert doc.status_code == 201, doc.get_data(as_text=True)
    return str(doc.get_json()["id"])


def test_an_attachment_may_be_the_patients_own_upload_and_never_anothers(
    answering: Answering, app: Flask, people: dict[str, Any]
) -> None:
    scope = f"{ANSWERING} patient/Binary.c patient/DocumentReference.c"
    own = _upload(app, {"Authorization": f"Bearer {token(app, people['p'], scope)}"})
    of_q = _upload(app, {"Authorization": f"Bearer {token(app, people['q'], scope)}"})
    refused = answering.put(
        "completed",
        *answering.required(),
        item("earlier", {"valueAttachment": {"url": f"DocumentReference/{of_q}"}}),
    )
    assert refused.status_code == 422, refused.get_data(as_text=True)
    done = answering.put(
        "completed",
        *answering.required(),
        item("earlier", {"valueAttachment": {"url": f"DocumentReference/{own}"}}),
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert his_row(answering.his, answering.his_id).answers["earlier"] == [
        {"url": f"DocumentReference/{own}"}
    ]


def test_enable_when_is_applied_to_the_answers(answering: Answering) -> None:
    answers = [i for i in answering.required() if i["linkId"] != "treated"]
    disabled = answering.put(
        "completed",
        *answers,
        item("treated", {"valueBoolean": False}),
        item("treatments", {"valueString": "Chemotherapy"}),
    )
    assert disabled.status_code == 422
    assert "treatments" in disabled.get_json()["issue"][0]["diagnostics"]
    enabled = answering.put(
        "completed",
        *answers,
        item("treated", {"valueBoolean": True}),
        item("treatments", {"valueString": "Chemotherapy"}),
    )
    assert enabled.status_code == 200, enabled.get_data(as_text=True)


# --- versions ----------------------------------------------------------------------------------


def test_if_match_with_a_stale_version_is_412(answering: Answering) -> None:
    first = answering.qr["meta"]["versionId"]
    saved = answering.put("in-progress", item("gp", {"valueString": "A"}), if_match=f'W/"{first}"')
    assert saved.status_code == 200, saved.get_data(as_text=True)
    stale = answering.put("in-progress", item("gp", {"valueString": "B"}), if_match=f'W/"{first}"')
    assert stale.status_code == 412
    assert stale.get_json()["resourceType"] == "OperationOutcome"
    assert his_row(answering.his, answering.his_id).answers == {"gp": "A"}
    current = saved.headers["ETag"]
    again = answering.put("in-progress", item("gp", {"valueString": "C"}), if_match=current)
    assert again.status_code == 200
    assert again.headers["ETag"] != current


@pytest.mark.parametrize("with_if_match", [True, False])
def test_concurrent_submits_one_wins_the_others_are_409(
    app: Flask, his: str, people: dict[str, Any], bearer: dict[str, str], with_if_match: bool
) -> None:
    answering = Answering(app, his, people, bearer)
    version = answering.qr["meta"]["versionId"]
    barrier = threading.Barrier(4)

    def submit(n: int) -> int:
        barrier.wait(timeout=30)
        answers = [*answering.required(), item("gp", {"valueString": f"Dr {n}"})]
        if_match = f'W/"{version}"' if with_if_match else None
        return int(answering.put("completed", *answers, if_match=if_match).status_code)

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(submit, range(4)))
    assert statuses.count(200) == 1, statuses
    # the losers find it closed (409), or, having read the same version, changed (409/412)
    assert set(statuses) - {200} <= {409, 412}, statuses
    assert 409 in statuses
    row = his_row(his, answering.his_id)
    assert (row.status, row.version) == ("submitted", 2)


# --- who may -----------------------------------------------------------------------------------


def test_v1_write_scope_answers_and_a_read_only_token_is_403(
    app: Flask, his: str, people: dict[str, Any]
) -> None:
    v1 = {"Authorization": f"Bearer {token(app, people['p'], V1_ANSWERING)}"}
    answering = Answering(app, his, people, v1)
    assert answering.put("in-progress", item("gp", {"valueString": "v1"})).status_code == 200
    reader = {"Authorization": f"Bearer {token(app, people['p'], READING)}"}
    answering.headers = reader
    refused = answering.put("in-progress", item("gp", {"valueString": "no"}))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert his_row(his, answering.his_id).answers == {"gp": "v1"}


def test_a_guardian_answers_for_the_person_in_their_care_at_user_level(
    app: Flask, his: str, people: dict[str, Any]
) -> None:
    _, guardian, ward = his_guardian_link(his)
    scope = "openid fhirUser user/*.rs user/QuestionnaireResponse.u"
    headers = {"Authorization": f"Bearer {token(app, guardian, scope, ward)}"}
    answering = Answering(app, his, {**people, "p": ward}, headers)
    saved = answering.put("in-progress", item("gp", {"valueString": "Dr W"}))
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert saved.get_json()["subject"] == {"reference": f"Patient/{ward}"}
    assert his_row(his, answering.his_id).answers == {"gp": "Dr W"}
    # the ward's response, to a token of the guardian's own record alone: missing
    own = {"Authorization": f"Bearer {token(app, guardian, ANSWERING)}"}
    body = {**answering.qr, "status": "in-progress"}
    refused = app.test_client().put(
        answering.url, json=body, headers={**own, "Content-Type": FHIR_JSON}
    )
    assert refused.status_code == 404


def test_another_patients_response_is_not_found(
    app: Flask, his: str, people: dict[str, Any], bearer: dict[str, str]
) -> None:
    theirs = assign(his, people["q"], people["onco"])
    body = {"resourceType": "QuestionnaireResponse", "id": str(theirs), "status": "in-progress"}
    headers = {**bearer, "Content-Type": FHIR_JSON}
    answer = app.test_client().put(
        f"/fhir/QuestionnaireResponse/{theirs}", json=body, headers=headers
    )
    missing = app.test_client().put(
        "/fhir/QuestionnaireResponse/987654321", json={**body, "id": "987654321"}, headers=headers
    )
    assert answer.status_code == missing.status_code == 404
    assert his_row(his, theirs).version == 1


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"id": "1"}, 400),
        ({"resourceType": "Observation"}, 400),
        ({"status": "amended"}, 422),
        ({"questionnaire": "https://elsewhere.example/Questionnaire/x|1"}, 422),
        ({"subject": {"reference": "Patient/987654"}}, 422),
    ],
)
def test_what_cannot_be_changed_is_refused(
    answering: Answering, change: dict[str, Any], status: int
) -> None:
    body = {**answering.qr, "status": "in-progress", **change}
    headers = {**answering.headers, "Content-Type": FHIR_JSON}
    answer = answering.app.test_client().put(answering.url, json=body, headers=headers)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.get_json()["resourceType"] == "OperationOutcome"
    assert his_row(answering.his, answering.his_id).version == 1


def test_a_body_that_is_not_json_is_415(answering: Answering) -> None:
    headers = {**answering.headers, "Content-Type": "text/plain"}
    answer = answering.app.test_client().put(
        answering.url, data="status=completed", headers=headers
    )
    assert answer.status_code == 415


def test_the_capability_statement_advertises_update_of_questionnaire_response_only(
    app: Flask,
) -> None:
    statement = app.test_client().get("/fhir/metadata").get_json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    updating = {name for name, r in resources.items() if {"code": "update"} in r["interaction"]}
    assert "QuestionnaireResponse" in updating
    # the others are served by the sharing part (Consent) and by patients' uploads
    assert updating - {"QuestionnaireResponse"} <= {"Consent", "DocumentReference"}
    assert resources["QuestionnaireResponse"]["versioning"] == "versioned-update"
    assert {"code": "create"} not in resources["QuestionnaireResponse"]["interaction"]
    assert "update" not in [i["code"] for i in resources["Questionnaire"]["interaction"]]


def test_every_update_is_in_the_audit_trail(answering: Answering) -> None:
    from smart_auth.audit.tables import audit_event

    assert answering.put("in-progress", item("gp", {"valueString": "A"})).status_code == 200
    assert answering.put("completed", item("gp", {"valueString": "A"})).status_code == 422
    assert answering.put("completed", *answering.required()).status_code == 200
    assert answering.put("completed", *answering.required()).status_code == 409
    app = answering.app
    app.extensions["audit_writer"].flush()
    with app.extensions["state_engine"].connect() as conn:
        outcomes = list(
            conn.execute(
                sa.select(audit_event.c.outcome)
                .where(
                    audit_event.c.action == "update",
                    audit_event.c.resource_type == "QuestionnaireResponse",
                    audit_event.c.entity_ids == str(answering.his_id),
                )
                .order_by(audit_event.c.recorded)
            ).scalars()
        )
    assert outcomes == ["allowed", "failed", "allowed", "failed"]
