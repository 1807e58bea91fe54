"""The FHIR API obeys the authorization server's bearer tokens (RFC 6750, SMART 2.x)."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Flask
from sqlalchemy import update

from smart_auth.oauth.store import digest
from smart_auth.oauth.tables import oauth_token
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


def _expire(app: Flask, access_token: str) -> None:
    with app.extensions["state_engine"].begin() as conn:
        conn.execute(
            update(oauth_token)
            .where(oauth_token.c.access_hash == digest(access_token))
            .values(expires_at=int(time.time()) - 1)
        )


def _challenge(answer: Any) -> dict[str, str]:
    """The parameters of an RFC 6750 §3 ``Bearer`` challenge."""
    scheme, _, params = answer.headers["WWW-Authenticate"].partition(" ")
    assert scheme == "Bearer"
    return dict(re.findall(r'(\w+)="([^"]*)"', params))


#: A FHIR read, the access history and the shares: the surfaces of the FHIR API.
_PROTECTED = ("/fhir/Patient/3", "/fhir/Observation", "/fhir/AuditEvent", "/fhir/Consent")


def test_unusable_tokens_are_401_invalid_token_everywhere(oauth_app: Flask) -> None:
    """RFC 6750 §3.1: a token that is expired, revoked or unknown is ``invalid_token``."""
    done = launch(
        oauth_app,
        scope="launch/patient offline_access patient/*.rs patient/Consent.cu",
    )
    client = done["client"]
    expired = launch(oauth_app)["token"]["access_token"]
    _expire(oauth_app, expired)
    revoked = done["token"]["access_token"]
    for path in _PROTECTED:
        assert client.get(path, headers=_auth(revoked)).status_code == 200, path
    client.post("/oauth/revoke", data={"token": revoked, "client_id": done["client_id"]})
    for token in (revoked, expired, "not-a-token"):
        for path in _PROTECTED:
            answer = client.get(path, headers=_auth(token))
            assert answer.status_code == 401, (path, token)
            assert _challenge(answer)["error"] == "invalid_token", path
            assert token not in answer.get_data(as_text=True)
    bare = client.get("/fhir/Patient/3")
    assert bare.status_code == 401
    assert "error" not in _challenge(bare)  # no credentials: no error code (RFC 6750 §3.1)


def test_a_good_token_without_the_permission_is_403_insufficient_scope(oauth_app: Flask) -> None:
    done = launch(oauth_app, scope="launch/patient patient/Observation.rs")
    client, token = done["client"], done["token"]["access_token"]
    consent = {"resourceType": "Consent", "status": "active"}
    answers = [
        client.get("/fhir/DiagnosticReport", headers=_auth(token)),
        client.get("/fhir/Patient/3", headers=_auth(token)),
        client.get("/fhir/AuditEvent", headers=_auth(token)),
        client.get("/fhir/Consent", headers=_auth(token)),
        client.post("/fhir/Consent", json=consent, headers=_auth(token)),
    ]
    for answer in answers:
        assert answer.status_code == 403, answer.request.path
        assert _challenge(answer)["error"] == "insufficient_scope", answer.request.path
        assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_the_apps_pages_answer_bearer_tokens_by_rfc_6750(oauth_app: Flask) -> None:
    """The management pages act for the person signed in, never for an app's token."""
    done = launch(oauth_app)
    client, token = oauth_app.test_client(), done["token"]["access_token"]
    for method, path in (
        ("GET", "/oauth/apps"),
        ("POST", "/oauth/apps/revoke"),
        ("POST", "/oauth/launch"),
    ):
        bad = client.open(path, method=method, headers=_auth("not-a-token"))
        assert bad.status_code == 401, path
        assert _challenge(bad)["error"] == "invalid_token", path
        assert bad.get_json()["error"] == "invalid_token"
        good = client.open(path, method=method, headers=_auth(token))
        assert good.status_code == 403, path
        assert _challenge(good)["error"] == "insufficient_scope", path
        assert good.get_json()["error"] == "insufficient_scope"
    # the app's token revoked nothing: it still reads
    assert client.get("/fhir/Patient/3", headers=_auth(token)).status_code == 200
    for path in ("/oauth/apps/revoke", "/oauth/launch"):
        signed_out = client.post(path)
        assert signed_out.status_code == 401
        assert "error" not in _challenge(signed_out)
