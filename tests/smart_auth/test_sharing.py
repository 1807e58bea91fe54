"""Patient-granted sharing with partner clinics, stored as shares and served as FHIR Consent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from joserfc.jwk import RSAKey
from jsonschema import validators

from gateway.app import create_app
from smart_auth import bearer
from smart_auth.oauth.store import OAuthStore
from smart_auth.sharing import consented_patients, service
from smart_auth.state import BASELINE, create_state, make_state_engine, upgrade_state
from tests.conftest import SHARED_R4, app_config
from tests.credentials import bearer_client, partner_token, patient_client

SYSTEM = "https://his.hospital.example/fhir/sid/oauth-client"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_state_engine(f"sqlite:///{tmp_path}/state.sqlite")
    create_state(engine)
    yield engine
    engine.dispose()


def test_grant_and_withdraw_show_at_once_in_consented_patients(state: sa.Engine) -> None:
    assert consented_patients(state, "clinic-a") == frozenset()
    first = service.grant_share(state, 1, "clinic-a", granted_by="patient:9")
    service.grant_share(state, 2, "clinic-a")
    service.grant_share(state, 3, "clinic-b")
    assert consented_patients(state, "clinic-a") == {1, 2}
    assert {s.patient for s in bearer.shares_in_force(state, "clinic-a")} == {1, 2}
    assert service.withdraw_share(state, first["id"], frozenset({1}))["active"] is False
    assert consented_patients(state, "clinic-a") == {2}
    assert {s.patient for s in bearer.shares_in_force(state, "clinic-a")} == {2}
    assert consented_patients(state, "clinic-b") == {3}


def test_a_patient_cannot_withdraw_another_patients_share(state: sa.Engine) -> None:
    other = service.grant_share(state, 2, "clinic-a")
    assert service.withdraw_share(state, other["id"], frozenset({1})) is None
    assert consented_patients(state, "clinic-a") == {2}


def test_granting_again_keeps_one_active_share(state: sa.Engine) -> None:
    one = service.grant_share(state, 1, "clinic-a")
    assert service.grant_share(state, 1, "clinic-a")["id"] == one["id"]
    service.withdraw_share(state, one["id"], None)
    again = service.grant_share(state, 1, "clinic-a")
    assert again["id"] != one["id"]
    assert [s["active"] for s in service.list_shares(state, frozenset({1}))] == [True, False]


#: the partners' signing key (private_key_jwt): one for every partner of these tests
PARTNER_KEY = RSAKey.generate_key(2048, parameters={"kid": "partner-test"})


def register_partner(engine: sa.Engine, client_id: str) -> None:
    """A backend-services partner clinic with that client id, its JWKS ``PARTNER_KEY``'s."""
    OAuthStore(engine).register_client(
        name=f"Partner {client_id}",
        kind="partner",
        auth_method="private_key_jwt",
        scope="system/*.rs",
        jwks=json.dumps({"keys": [PARTNER_KEY.as_dict(private=False)]}),
        client_id=client_id,
    )


@pytest.fixture
def gateway(sqlite_his: str, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """The gateway (authorization on) and the client of HIS patient 1's own app (a real
    token for every patient scope and Consent.cu)."""
    app = create_app(
        app_config(sqlite_his, dev_open_access=False, state_url=f"sqlite:///{tmp_path}/s.sqlite")
    )
    for partner in ("clinic-a", "clinic-b"):
        register_partner(app.extensions["state_engine"], partner)
    yield app, patient_client(app, 1, "patient/*.rs patient/Consent.cu")
    app.extensions["audit_writer"].close()


def _consent(patient: str, partner: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "status": "active",
        "patient": {"reference": patient},
        "organization": [{"identifier": {"system": SYSTEM, "value": partner}}],
    }


@pytest.fixture(scope="module")
def r4_errors() -> Any:
    path = SHARED_R4 / "fhir.schema.json"
    if not path.is_file():
        pytest.skip("the official R4 JSON schema is not available")
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = validators.validator_for(schema)
    check = cls({"$ref": "#/definitions/Consent", "definitions": schema["definitions"]})
    return lambda r: [e.message for e in check.iter_errors(r)]


def test_patient_grants_and_withdraws_through_fhir_consent(gateway: Any, r4_errors: Any) -> None:
    app, client = gateway
    state = app.extensions["state_engine"]
    created = client.post("/fhir/Consent", json=_consent("Patient/1", "clinic-a"))
    assert created.status_code == 201
    consent = created.get_json()
    assert r4_errors(consent) == []
    assert consent["status"] == "active"
    assert consent["scope"]["coding"][0]["code"] == "patient-privacy"
    assert consent["patient"] == {"reference": "Patient/1"}
    assert consent["performer"] == [{"reference": "Patient/1"}]
    assert consent["organization"][0]["identifier"]["value"] == "clinic-a"
    assert consent["provision"]["type"] == "permit"
    assert "end" not in consent["provision"]["period"]
    assert created.headers["Location"] == f"Consent/{consent['id']}"
    assert consented_patients(state, "clinic-a") == {1}

    listed = client.get("/fhir/Consent").get_json()
    assert [e["resource"]["id"] for e in listed["entry"]] == [consent["id"]]
    assert client.get(f"/fhir/Consent/{consent['id']}").get_json() == consent

    withdrawn = client.put(f"/fhir/Consent/{consent['id']}", json={**consent, "status": "inactive"})
    assert withdrawn.status_code == 200
    body = withdrawn.get_json()
    assert body["status"] == "inactive"
    assert "end" in body["provision"]["period"]
    assert r4_errors(body) == []
    assert consented_patients(state, "clinic-a") == frozenset()


def test_nobody_shares_or_withdraws_for_another_patient(gateway: Any) -> None:
    app, client = gateway
    state = app.extensions["state_engine"]
    assert client.post("/fhir/Consent", json=_consent("Patient/2", "clinic-a")).status_code == 403
    theirs = service.grant_share(state, 2, "clinic-a")
    put = client.put(
        f"/fhir/Consent/{theirs['id']}", json={"resourceType": "Consent", "status": "inactive"}
    )
    assert put.status_code == 404
    assert client.get(f"/fhir/Consent/{theirs['id']}").status_code == 404
    assert consented_patients(state, "clinic-a") == {2}
    # the partner patient 2 shared with cannot share that patient on with another
    partner = bearer_client(app, partner_token(app, "clinic-a", PARTNER_KEY))
    assert partner.post("/fhir/Consent", json=_consent("Patient/2", "clinic-b")).status_code == 403


def test_a_consent_without_a_partner_or_a_change_other_than_withdrawal_is_refused(
    gateway: Any,
) -> None:
    _app, client = gateway
    no_partner = {"resourceType": "Consent", "patient": {"reference": "Patient/1"}}
    assert client.post("/fhir/Consent", json=no_partner).status_code == 422
    made = client.post("/fhir/Consent", json=_consent("Patient/1", "clinic-a")).get_json()
    assert client.put(f"/fhir/Consent/{made['id']}", json=made).status_code == 422
    assert client.post("/fhir/Consent", data="x").status_code == 400


def test_a_share_table_from_before_the_consent_terms_gains_their_columns(tmp_path: Path) -> None:
    engine = make_state_engine(f"sqlite:///{tmp_path}/old.sqlite")
    upgrade_state(engine, BASELINE)  # the previous release's tables
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO share (client_id, his_patient_id, active, created) "
                "VALUES ('clinic-a', 4, 1, '2026-01-01 00:00:00')"
            )
        )
    create_state(engine)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("share")}
    assert {"period_start", "period_end", "classes", "resources"} <= columns
    assert consented_patients(engine, "clinic-a") == {4}  # an old share: whole
    service.grant_share(engine, 5, "clinic-a", classes=frozenset({"Observation"}))
    shares = bearer.shares_in_force(engine, "clinic-a")
    assert [(s.patient, s.types) for s in shares] == [(4, None), (5, frozenset({"Observation"}))]
    engine.dispose()


def test_every_kind_a_share_may_list_is_named_in_each_language() -> None:
    from mappers.codes import DOCUMENT_KINDS, PARACLINICAL_KINDS
    from smart_auth.sharing import wording

    names = {display for display, _loinc in DOCUMENT_KINDS.values()}
    names |= {display for display, _section, _loinc in PARACLINICAL_KINDS.values()}
    for name in names:
        assert wording.kind(name, "en") == name
        for language in ("ro", "pl"):
            assert wording.kind(name, language) != name, (language, name)
    assert wording.kind("Analize Dr. Popescu", "ro") == "Analize Dr. Popescu"  # the hospital's own
