"""The world of the access contract: one gateway with authorization on, a real Orthanc holding
the studies of a few HIS patients (one study holding two patients' instances), and one real
credential of every kind the gateway issues, each made through its production path.

Patients (HIS ids): A, the patient most cells are about (lab bulletins with a result code and a
PDF, imaging studies); B, another patient (the victim: their data must look missing to A's
credentials); G and W, a guardian and the minor in their care (a HIS guardian link).

The two-patient study: B's instances (their own series) are stored under the Study Instance
UID of one of A's studies, as happens when a modality files two patients under one worklist
entry. Nobody acting for A may see B's series there, and the reverse.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import json
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey

from demo.his_studies import order_rows, study_spec
from demo.synthetic import Patient, StudySpec, build_study
from dicomweb.backends.dimse import DimseBackend
from fhir_gateway.his import schema as t
from gateway.app import create_app
from smart_auth.oauth.store import digest
from smart_auth.oauth.tables import oauth_token
from smart_auth.session import sign_in
from tests.access.world import Credential, World
from tests.conftest import app_config
from tests.dicomweb.conftest import Pacs, start_pacs
from tests.smart_auth.test_oauth_fixtures import (
    APP_SCOPE,
    REDIRECT,
    TOKEN_URL,
    add_account,
    authorize_params,
    exchange,
    get_code,
    pkce,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: The scopes the test apps are registered with: reads everywhere, managing Consent, answering
#: questionnaires (F18), a patient's uploads (F17: Binary create, DocumentReference create,
#: update, delete) and booking appointments (F19: SMART v2 ``c``/``u``).
ANSWERS = "patient/QuestionnaireResponse.u"
UPLOAD_SCOPE = "patient/Binary.c patient/DocumentReference.cud"
BOOKING = "patient/Appointment.cu"
REGISTERED = f"{APP_SCOPE} patient/Consent.cu user/Consent.cu {ANSWERS} {UPLOAD_SCOPE} {BOOKING}"
PATIENT_SCOPE = (
    "launch/patient openid fhirUser offline_access patient/*.rs patient/Consent.cu "
    f"{ANSWERS} {UPLOAD_SCOPE} {BOOKING}"
)
USER_SCOPE = "openid fhirUser user/*.rs"
LAB_FILTER = "category=laboratory"
FILTERED_SCOPE = f"launch/patient openid patient/Observation.rs?{LAB_FILTER}"
#: Instances per series loaded into the PACS (the HIS's counts would make thousands).
PER_SERIES = 2


# --- the HIS: who is who -------------------------------------------------------------------------


def _people(his_url: str) -> dict[str, Any]:
    engine = sa.create_engine(his_url)
    lb, io, p = t.lab_bulletin, t.imaging_order, t.patient
    with engine.connect() as conn:
        link, guardian, ward = conn.execute(
            sa.text("SELECT id, guardian_id, ward_id FROM guardian_link ORDER BY id LIMIT 1")
        ).one()
        linked = {
            int(x)
            for pair in conn.execute(sa.text("SELECT guardian_id, ward_id FROM guardian_link"))
            for x in pair
        }
        coded = dict(
            conn.execute(
                sa.select(lb.c.patient_id, sa.func.count())
                .where(lb.c.access_code.is_not(None), lb.c.document_id.is_not(None))
                .group_by(lb.c.patient_id)
            ).all()
        )
        imaged = dict(
            conn.execute(
                sa.select(io.c.patient_id, sa.func.count())
                .where(io.c.study_uid.is_not(None), io.c.series_count.is_not(None))
                .where(io.c.status.in_(("performed", "reported")))
                .group_by(io.c.patient_id)
            ).all()
        )
        candidates = sorted(pid for pid in imaged if coded.get(pid, 0) >= 2 and pid not in linked)
        a, b = candidates[0], candidates[1]
        bulletins = conn.execute(
            sa.select(lb.c.id, lb.c.document_id, lb.c.access_code)
            .where(lb.c.patient_id == a, lb.c.access_code.is_not(None))
            .where(lb.c.document_id.is_not(None))
            .order_by(lb.c.id)
        ).all()
        ids = dict(conn.execute(sa.select(p.c.id, p.c.national_id)).all())
        mrns = dict(conn.execute(sa.select(p.c.id, p.c.mrn)).all())
    engine.dispose()
    return {
        "a": int(a),
        "b": int(b),
        "guardian": int(guardian),
        "ward": int(ward),
        "link": int(link),
        "bulletin": (int(bulletins[0][0]), int(bulletins[0][1]), str(bulletins[0][2])),
        "other_bulletin": (int(bulletins[1][0]), int(bulletins[1][1])),
        "national_id": {int(k): str(v) for k, v in ids.items()},
        "mrn": {int(k): str(v) for k, v in mrns.items()},
    }


SURVEYED = (
    "Patient",
    "Observation",
    "Encounter",
    "DiagnosticReport",
    "DocumentReference",
    "ImagingStudy",
    "RelatedPerson",
)


def _survey(his_url: str, patients: set[int]) -> dict[str, dict[int, list[str]]]:
    """The ids of each patient's resources, as development open access sees them."""
    http = create_app(app_config(his_url, log_level="WARNING")).test_client()
    owned: dict[str, dict[int, list[str]]] = {}
    for rtype in SURVEYED:
        for pid in sorted(patients):
            key = "_id" if rtype == "Patient" else "patient"
            answer = http.get(f"/fhir/{rtype}?{key}={pid}&_count=500")
            assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
            found = [e["resource"] for e in answer.get_json().get("entry", [])]
            owned.setdefault(rtype, {})[pid] = [r["id"] for r in found]
            if rtype == "ImagingStudy":  # by Study Instance UID, under a key of its own
                for r in found:
                    for ident in r.get("identifier", []):
                        if ident.get("system") == "urn:dicom:uid":
                            uid = ident["value"].removeprefix("urn:oid:")
                            owned.setdefault("ImagingStudy-by-uid", {}).setdefault(0, []).append(
                                f"{uid}={r['id']}"
                            )
            if rtype == "DocumentReference":
                owned.setdefault("Binary", {})[pid] = [
                    c["attachment"]["url"].removeprefix("Binary/")
                    for r in found
                    for c in r.get("content", [])
                    if c.get("attachment", {}).get("url", "").startswith("Binary/")
                ]
    return owned


# --- the PACS ------------------------------------------------------------------------------------


def _load(
    his_url: str, pacs: Pacs, patients: set[int]
) -> tuple[dict[int, list[str]], dict[str, list[tuple[str, str]]]]:
    """One small study per imaging order of ``patients``: their study UIDs by patient, and the
    (series, instance) UIDs of each study."""
    engine = sa.create_engine(his_url)
    with engine.connect() as conn:
        by_mrn = {
            str(m): int(i) for i, m in conn.execute(sa.select(t.patient.c.id, t.patient.c.mrn))
        }
    studies: dict[int, list[str]] = {}
    instances: dict[str, list[tuple[str, str]]] = {}
    with DimseBackend(pacs.settings()) as backend:
        for row in order_rows(engine):
            pid = by_mrn[str(row.mrn)]
            if pid not in patients or row.study_uid is None or row.series_count is None:
                continue
            if row.status not in ("performed", "reported") or row.instance_count == 0:
                continue
            spec = study_spec(row, max_size=16)
            spec = dataclasses.replace(spec, instance_count=spec.series_count * PER_SERIES)
            datasets = list(build_study(spec))
            result = backend.store(iter(datasets))
            assert result.ok, result.failures
            studies.setdefault(pid, []).append(spec.study_uid)
            instances[spec.study_uid] = [
                (str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)) for ds in datasets
            ]
    engine.dispose()
    return {pid: sorted(uids) for pid, uids in studies.items()}, instances


def _mix(pacs: Pacs, study_uid: str, his_url: str, b: int) -> list[Any]:
    """B's own series stored under ``study_uid`` (one of A's studies); B's instances."""
    engine = sa.create_engine(his_url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.patient).where(t.patient.c.id == b)).one()
    engine.dispose()
    spec = StudySpec(
        study_uid=study_uid,
        patient=Patient(str(row.mrn), row.family, row.given, row.birth_date, "O"),
        accession_number=f"MIX{uuid.uuid4().hex[:8].upper()}",
        modality="CR",
        performed_at=dt.datetime(2025, 2, 3, 10, 0),
        description="filed under another patient's study",
        series_count=1,
        instance_count=PER_SERIES,
        max_size=16,
        seed=99,  # other series and instance UIDs than A's
    )
    datasets = list(build_study(spec))
    with DimseBackend(pacs.settings()) as backend:
        result = backend.store(iter(datasets))
    assert result.ok, result.failures
    return datasets


# --- the gateway ---------------------------------------------------------------------------------


def _gateway(his_url: str, pacs: Pacs, tmp: Path) -> Flask:
    backend = DimseBackend(pacs.settings())
    app = create_app(
        app_config(
            his_url,
            dev_open_access=False,
            state_url=f"sqlite:///{tmp / 'state.sqlite'}",
            outbox_dir=str(tmp / "outbox"),
            log_level="WARNING",
            # every cell asks the PACS itself: with the instance cache, what a cell gets
            # would depend on what earlier cells fetched
            dicomweb_cache_max_bytes=0,
            # the share credential lives as long as the suite runs
            shares_token_ttl_s=7200,
            # video appointments' join links carry a Jitsi token (booking rows)
            video_jitsi_secret="contract-jitsi-secret-of-the-test-world",
            # subscriptions' endpoints may be on the loopback network (none is ever called)
            subscription_allowed_networks="127.0.0.0/8",
        ),
        pacs=backend,
        pacs_settings=pacs.settings(),
    )
    app.extensions["test_backend"] = backend

    # test-only: the accounts pages sign a person in; routes named _test are not the API's
    @app.get("/_test/sign-in/<int:account_id>")
    def _test_sign_in(account_id: int) -> str:
        sign_in(account_id)
        return "ok"

    return app


def _register_app(app: Flask) -> str:
    store = app.extensions["smart_oauth"].store
    client_id, _ = store.register_client(
        name="Contract App",
        kind="app",
        auth_method="none",
        scope=REGISTERED,
        redirect_uris=(REDIRECT,),
    )
    return str(client_id)


def _launch(app: Flask, account_id: int, scope: str, patient: int | None) -> dict[str, Any]:
    """A full authorization-code launch through the real sign-in and consent page."""
    client = app.test_client()
    client.get(f"/_test/sign-in/{account_id}")
    client_id = _register_app(app)
    verifier, challenge = pkce()
    query = get_code(client, authorize_params(client_id, challenge, scope), patient=patient)
    answer = exchange(client, client_id, query["code"][0], verifier)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    token = answer.get_json()
    assert token.get("patient") == (str(patient) if patient is not None else None), token
    return {"client": client, "client_id": client_id, **token}


def _partner(app: Flask, key: RSAKey) -> tuple[str, str]:
    """A partner clinic registered for backend services, and a token of its own."""
    store = app.extensions["smart_oauth"].store
    client_id, _ = store.register_client(
        name=f"Partner {secrets.token_hex(3)}",
        kind="partner",
        auth_method="private_key_jwt",
        scope="system/*.rs",
        jwks=json.dumps({"keys": [key.as_dict(private=False)]}),
    )
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode(
        {"alg": "RS384", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["RS384"]
    )
    answer = app.test_client().post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "system/*.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(client_id), str(answer.get_json()["access_token"])


def _outside_share(
    app: Flask,
    tmp_path_factory: pytest.TempPathFactory,
    patient: int,
    token: str,
    people: dict[str, Any],
    study_uid: str,
) -> dict[str, str]:
    """A share with a person outside (F21) of A's coded report and A's two-patient study, made
    with A's token; its link and PIN read from the mail outbox, the PIN entered on its page."""
    report_id, _document_id, _code = people["bulletin"]
    study = _survey_study(app, token, study_uid)
    path, pin = make_share(app, patient, token, f"DiagnosticReport/lab-{report_id}", study)
    client = app.test_client()
    opened = client.post(path, data={"pin": pin})
    assert opened.status_code == 303, opened.get_data(as_text=True)
    cookie = client.get_cookie("share_token", path=path)
    assert cookie is not None
    return {"token": cookie.value, "link": path, "pin": pin}


def make_share(app: Flask, patient: int, token: str, *refs: str) -> tuple[str, str]:
    """A share of ``refs`` made with ``token`` (a patient's): the path of its link and its PIN,
    as the recipient's two mails in the outbox give them."""
    outbox = Path(app.config["SETTINGS"].outbox_dir) / "mail"
    before = set(outbox.glob("*.eml")) if outbox.is_dir() else set()
    answer = app.test_client().post(
        "/fhir/Consent",
        json=share_consent(app, patient, *refs),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    bodies = []
    for file in sorted(set(outbox.glob("*.eml")) - before):
        message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
        part = message.get_body()
        assert part is not None
        bodies.append(str(part.get_content()))  # type: ignore[attr-defined]
    link = next(re.search(r"https?://\S+", b) for b in bodies if "/share/" in b)
    pin = next(re.search(r"\b([0-9]{6})\b", b) for b in bodies if "/share/" not in b)
    assert link is not None
    assert pin is not None
    return urlsplit(link.group(0)).path, pin.group(1)


def _survey_study(app: Flask, token: str, study_uid: str) -> str:
    """The FHIR ImagingStudy of a study of the token's patient."""
    found = app.test_client().get(
        "/fhir/ImagingStudy?_count=500", headers={"Authorization": f"Bearer {token}"}
    )
    assert found.status_code == 200, found.get_data(as_text=True)
    wanted = {"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"}
    return next(
        f"ImagingStudy/{e['resource']['id']}"
        for e in found.get_json()["entry"]
        if wanted in e["resource"].get("identifier", [])
    )


def share_consent(app: Flask, patient: int, *refs: str, pin: str = "314159") -> dict[str, Any]:
    """A Consent sharing ``refs`` of ``patient`` with a person outside for a week."""
    base = app.config["SHARING_EXTENSION_BASE"]
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "resourceType": "Consent",
        "status": "active",
        "patient": {"reference": f"Patient/{patient}"},
        "contained": [
            {
                "resourceType": "RelatedPerson",
                "id": "recipient",
                "patient": {"reference": f"Patient/{patient}"},
                "telecom": [{"system": "email", "value": "recipient@example.net"}],
            }
        ],
        "extension": [{"url": f"{base}/share-pin", "valueString": pin}],
        "provision": {
            "period": {"end": end},
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                            }
                        ]
                    },
                    "reference": {"reference": "#recipient"},
                }
            ],
            "data": [{"meaning": "instance", "reference": {"reference": r}} for r in refs],
        },
    }


@pytest.fixture(scope="session")
def contract_pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    """An Orthanc of this suite's own: the two-patient study must not reach other suites."""
    running = start_pacs(tmp_path_factory.mktemp("contract-orthanc"))
    yield running
    running.process.stop()


@pytest.fixture(scope="session")
def world(
    sqlite_his: str, contract_pacs: Pacs, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    people = _people(sqlite_his)
    a, b, g, w = people["a"], people["b"], people["guardian"], people["ward"]
    studies, instances = _load(sqlite_his, contract_pacs, {a, b, g, w})
    mixed = studies[a][0]
    planted = _mix(contract_pacs, mixed, sqlite_his, b)
    app = _gateway(sqlite_his, contract_pacs, tmp_path_factory.mktemp("contract-state"))
    http = app.test_client()

    # the people's accounts
    account_a = add_account(app, (a, "self"))
    account_b = add_account(app, (b, "self"))
    account_g = add_account(app, (g, "self"), (w, "guardian"))
    patient = _launch(app, account_a, PATIENT_SCOPE, a)
    other = _launch(app, account_b, PATIENT_SCOPE, b)
    guardian = _launch(app, account_g, PATIENT_SCOPE, w)
    guardian_user = _launch(app, account_g, USER_SCOPE, None)
    user = _launch(app, account_a, USER_SCOPE, None)
    filtered = _launch(app, account_a, FILTERED_SCOPE, a)

    expired = _launch(app, account_a, PATIENT_SCOPE, a)["access_token"]
    with app.extensions["state_engine"].begin() as conn:
        conn.execute(
            sa.update(oauth_token)
            .where(oauth_token.c.access_hash == digest(expired))
            .values(expires_at=int(time.time()) - 1)
        )
    done = _launch(app, account_a, PATIENT_SCOPE, a)
    answer = done["client"].post(
        "/oauth/revoke", data={"token": done["access_token"], "client_id": done["client_id"]}
    )
    assert answer.status_code == 200

    # partners: one A shared with (through A's own Consent), one nobody shared with
    key = RSAKey.generate_key(2048, {"kid": "contract-partner"})
    partner_id, partner = _partner(app, key)
    _, partner_none = _partner(app, key)
    spare, _ = _partner(app, key)
    consent = http.post(
        "/fhir/Consent",
        json={
            "resourceType": "Consent",
            "status": "active",
            "patient": {"reference": f"Patient/{a}"},
            "organization": [
                {
                    "identifier": {
                        "system": app.config["SHARING_CLIENT_SYSTEM"],
                        "value": partner_id,
                    }
                }
            ],
        },
        headers={"Authorization": f"Bearer {patient['access_token']}"},
    )
    assert consent.status_code == 201, consent.get_data(as_text=True)
    # B shares with another registered partner: never visible to A's partner
    app.extensions["smart_oauth"].store.register_client(
        name="Another clinic",
        kind="partner",
        auth_method="private_key_jwt",
        scope="system/*.rs",
        jwks='{"keys": []}',
        client_id="another-clinic",
    )
    b_consent = http.post(
        "/fhir/Consent",
        json={
            "resourceType": "Consent",
            "status": "active",
            "patient": {"reference": f"Patient/{b}"},
            "organization": [
                {
                    "identifier": {
                        "system": app.config["SHARING_CLIENT_SYSTEM"],
                        "value": "another-clinic",
                    }
                }
            ],
        },
        headers={"Authorization": f"Bearer {other['access_token']}"},
    )
    assert b_consent.status_code == 201, b_consent.get_data(as_text=True)

    # a result code of one of A's bulletins, redeemed as the patient would
    report_id, document_id, code = people["bulletin"]
    redeemed = http.post(
        "/auth/result-access",
        data={"code": code, "national_id": people["national_id"][a]},
        environ_base={"REMOTE_ADDR": "10.9.0.1"},
    )
    assert redeemed.status_code == 200, redeemed.get_data(as_text=True)
    result = redeemed.get_json()
    assert result["report"] == f"DiagnosticReport/lab-{report_id}"
    assert result["binary"] == f"Binary/{document_id}"

    # a viewer link of A's two-patient study, minted with A's token
    link = http.post(
        f"/dicomweb/studies/{mixed}/viewer-link",
        headers={"Authorization": f"Bearer {patient['access_token']}"},
    )
    assert link.status_code == 201, link.get_data(as_text=True)
    viewer = link.get_json()["token"]

    share = _outside_share(app, tmp_path_factory, a, patient["access_token"], people, mixed)

    def forged(token: str) -> str:
        return token[:-2] + ("yy" if token.endswith("xx") else "xx")

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    credentials = {
        "anonymous": Credential("anonymous", {}, presented=False),
        "malformed": Credential("malformed", {"Authorization": "Bearer not/a.token=="}),
        "expired": Credential("expired", bearer(expired)),
        "revoked": Credential("revoked", bearer(done["access_token"])),
        # the form of a result code and of a viewer token, not one the gateway made
        "forged-result-code": Credential(
            "forged-result-code", bearer(forged(result["access_token"]))
        ),
        "forged-viewer": Credential("forged-viewer", bearer(forged(viewer))),
        "forged-share": Credential("forged-share", bearer(forged(share["token"]))),
        "patient": Credential("patient", bearer(patient["access_token"]), patients=(a,)),
        "guardian": Credential("guardian", bearer(guardian["access_token"]), patients=(w,)),
        "guardian-user": Credential(
            "guardian-user", bearer(guardian_user["access_token"]), patients=(g, w)
        ),
        "user": Credential("user", bearer(user["access_token"]), patients=(a,)),
        "filtered": Credential("filtered", bearer(filtered["access_token"]), patients=(a,)),
        "partner": Credential("partner", bearer(partner), patients=(a,)),
        "partner-none": Credential("partner-none", bearer(partner_none), patients=()),
        "result-code": Credential("result-code", bearer(result["access_token"]), patients=(a,)),
        "viewer": Credential("viewer", bearer(viewer), patients=(a,)),
        "share": Credential("share", bearer(share["token"]), patients=(a,)),
    }
    owned = _survey(sqlite_his, {a, b, g, w})
    yield World(
        app=app,
        http=http,
        his_url=sqlite_his,
        a=a,
        b=b,
        guardian=g,
        ward=w,
        link=people["link"],
        studies=studies,
        instances=instances,
        mixed_study=mixed,
        planted=[(str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)) for ds in planted],
        report=f"lab-{report_id}",
        report_binary=str(document_id),
        other_report=f"lab-{people['other_bulletin'][0]}",
        other_binary=str(people["other_bulletin"][1]),
        consent_a=str(consent.get_json()["id"]),
        consent_b=str(b_consent.get_json()["id"]),
        partner_id=partner_id,
        spare_partner=spare,
        credentials=credentials,
        owned=owned,
        mrn=people["mrn"],
        tokens={
            "patient": patient["access_token"],
            "other": other["access_token"],
            "viewer": viewer,
            "share": share["token"],
            "share_link": share["link"],
            "share_pin": share["pin"],
        },
    )
    app.extensions["audit_writer"].close()
    app.extensions["test_backend"].close()
    app.extensions["state_engine"].dispose()
