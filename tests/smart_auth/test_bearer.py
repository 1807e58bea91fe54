"""The FHIR API obeys the authorization server's bearer tokens (RFC 6750, SMART 2.x)."""

from __future__ import annotations

from flask import Flask

from tests.smart_auth.test_oauth_fixtures import launch, oauth_app

__all__ = ["oauth_app"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_or_bad_token_is_401_with_www_authenticate(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    for headers in ({}, _auth("not-a-token"), {"Authorization": "Basic eDp5"}):
        answer = client.get("/fhir/Patient/3", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer ")


def test_patient_token_reads_its_patient_only(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    client, token = done["client"], done["token"]["access_token"]
    mine = client.get("/fhir/Patient/3", headers=_auth(token))
    assert mine.status_code == 200
    assert mine.get_json()["id"] == "3"
    assert client.get("/fhir/Patient/4", headers=_auth(token)).status_code == 404
    bundle = client.get("/fhir/Observation?_count=50", headers=_auth(token)).get_json()
    subjects = {e["resource"]["subject"]["reference"] for e in bundle.get("entry", [])}
    assert subjects <= {"Patient/3"}


def test_type_outside_the_grant_is_403_not_an_empty_200(oauth_app: Flask) -> None:
    done = launch(oauth_app, scope="launch/patient patient/Observation.rs")
    client, token = done["client"], done["token"]["access_token"]
    assert client.get("/fhir/Observation", headers=_auth(token)).status_code == 200
    assert client.get("/fhir/DiagnosticReport", headers=_auth(token)).status_code == 403
    assert client.get("/fhir/Encounter?patient=3", headers=_auth(token)).status_code == 403


def test_fine_grained_category_scope(oauth_app: Flask) -> None:
    scope = (
        "launch/patient patient/Observation.rs?category="
        "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    )
    done = launch(oauth_app, scope=scope)
    client, token = done["client"], done["token"]["access_token"]
    bundle = client.get("/fhir/Observation?_count=100", headers=_auth(token)).get_json()
    codes = {
        c["code"]
        for e in bundle.get("entry", [])
        for cat in e["resource"].get("category", [])
        for c in cat["coding"]
    }
    assert codes <= {"laboratory"}


def test_revocation_takes_effect_at_once(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    client, token = done["client"], done["token"]
    assert client.get("/fhir/Patient/3", headers=_auth(token["access_token"])).status_code == 200
    revoked = client.post(
        "/oauth/revoke", data={"token": token["access_token"], "client_id": done["client_id"]}
    )
    assert revoked.status_code == 200
    assert client.get("/fhir/Patient/3", headers=_auth(token["access_token"])).status_code == 401
    refresh = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": done["client_id"],
        },
    )
    assert refresh.status_code == 400
